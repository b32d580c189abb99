"""The DELIVERED email (pure): its text and HTML from jinja2 templates, and the exactly-once decision.

The durable record lives in two annotations on the CommunityHub, written straight to the API (not
through Kopf's end-of-handler patch) so a restart cannot lose them:

- ``delivered-email-id``: the Message-ID of a send in flight, written *before* the send;
- ``delivered-at``: written right after the SMTP server accepted the message.

An id without ``delivered-at`` means the operator stopped while sending: the email may have gone
out, so it is not sent again (a human decides, see :func:`decide`). A send that fails cleanly
removes the id, and the next attempt follows the backoff.
"""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Literal

from communityhub.api.annotations import DELIVERED_AT
from communityhub.api.annotations import DELIVERED_EMAIL_ID as EMAIL_ID
from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import identity, policy, render


def one_line(text: str) -> str:
    """Header-safe: a hub stored before the schema refused line breaks must not break its email forever."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())

Action = Literal["wait", "send", "done", "unconfirmed"]


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    verdict: Verdict


def decide(annotations: dict[str, str], ready: bool, namespace: str, name: str) -> Decision:
    """What to do about the DELIVERED email, from the fresh annotations and Ready."""
    if annotations.get(DELIVERED_AT):
        return Decision("done", Verdict.true(
            "EmailSent", f"DELIVERED email {annotations.get(EMAIL_ID, '')} sent at {annotations[DELIVERED_AT]}"))
    if annotations.get(EMAIL_ID):
        return Decision("unconfirmed", Verdict.unknown(
            "DeliveryUnconfirmed",
            f"the operator stopped while sending DELIVERED email {annotations[EMAIL_ID]}; it may have gone out, "
            f"so it is not sent again. Check the mail log, then either record it (kubectl annotate "
            f"communityhub -n {namespace} {name} {DELIVERED_AT}=<time>) or send it again (kubectl annotate "
            f"communityhub -n {namespace} {name} {EMAIL_ID}-)"))
    if not ready:
        return Decision("wait", Verdict.unknown("WaitingForReady",
                                                "the DELIVERED email goes out when Ready first turns True"))
    return Decision("send", Verdict.unknown("Sending", "sending the DELIVERED email"))


#: What the hub's login button says, per provider.
LOGIN_BUTTONS = {"github": "Sign in with GitHub", "cilogon": "Sign in with CILogon", "oidc": "Sign in",
                 "oauth2": "Sign in", "google": "Sign in with Google", "sharedPassword": "Sign in"}


def login_instructions(spec: CommunityHubSpec) -> str:
    if spec.auth.provider == "temporary":
        return f"Open {render.hub_url(spec)}: there is no login. Who gets in: {identity.who_gets_in(spec)}."
    if spec.auth.provider == "none":
        return (f"Open {render.hub_url(spec)}: it is the Binder page, with no login. Who gets a server: "
                f"{identity.who_gets_in(spec)}.")
    return (f"Open {render.hub_url(spec)} and choose \"{LOGIN_BUTTONS[spec.auth.provider]}\". "
            f"Who may log in: {identity.who_gets_in(spec)}.")


def envelope(spec: CommunityHubSpec, namespace: str, name: str, subject: str, kind: str, *, sender: str,
             domain: str) -> EmailMessage:
    """An email to the hub's contact: its headers (a fresh Message-ID that names the kind and the hub)."""
    msg = EmailMessage()
    msg["Subject"] = f"{subject}: {one_line(spec.community.display_name)}"
    msg["From"] = sender
    msg["To"] = formataddr((one_line(spec.community.display_name), spec.community.contact_email))
    msg["Message-ID"] = make_msgid(idstring=f"{kind}.{namespace}.{name}", domain=domain)
    msg["X-CommunityHub"] = f"{namespace}/{name}"
    return msg


def message(spec: CommunityHubSpec, namespace: str, name: str, *, sender: str, support_url: str,
            support_email: str, domain: str = "communityhub.local") -> EmailMessage:
    """The DELIVERED email for one hub, with a fresh Message-ID."""
    context = {
        "community": spec.community.display_name,
        "url": render.hub_url(spec),
        "login": login_instructions(spec),
        "admins": list(spec.hub.admin_users),
        "environment": policy.describe_environment(spec),
        "support_url": support_url,
        "support_email": support_email,
        "reference": f"{namespace}/{name}",
    }
    env = render.templates()
    msg = envelope(spec, namespace, name, "Your JupyterHub is ready", "delivered", sender=sender, domain=domain)
    msg.set_content(env.get_template("delivered.txt.j2").render(context))
    msg.add_alternative(env.get_template("delivered.html.j2").render(context), subtype="html")
    return msg
