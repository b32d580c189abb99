"""Step 6, Delivered: the DELIVERED email, exactly once per hub (see :mod:`communityhub.delivery.emails`).

Runs after Ready is decided; its outcome never changes Ready. A failed send is retried on the hub's
backoff; the message names the SMTP server's answer, never the credentials.
"""

from __future__ import annotations

from lightkube import ApiError

from communityhub.adapters import kube, smtp
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.delivery import emails
from communityhub.runtime.settings import Settings
from communityhub.steps.context import HubContext

#: Delivered reasons that a later pass can change by itself (the hub keeps being retried for them).
RETRYABLE = frozenset({"EmailFailed"})
#: Not sent, not failed: tried again at the next poll.
RETRY_SOON = frozenset({"Sending"})


async def smtp_server(ctx: HubContext, settings: Settings) -> smtp.SmtpServer:
    username = password = None
    if settings.smtp_credentials_secret:
        data = await kube.read_secret(ctx.clusters.get(None), settings.smtp_credentials_secret, settings.namespace)
        if data is None or not data.get("username"):
            raise smtp.SmtpError(f"Secret {settings.namespace}/{settings.smtp_credentials_secret} "
                                 "(setting smtp_credentials_secret) not found or without key username")
        username, password = data["username"].decode(), data.get("password", b"").decode()
    return smtp.SmtpServer(settings.smtp_host, settings.smtp_port, settings.smtp_starttls,
                           settings.smtp_timeout_seconds, username, password, settings.extra_ca_file)


def intent_refused(code: int | None, message: str) -> Verdict:
    """The intent's patch was refused. A conflict is the guard working (another write, often Kopf's own
    progress annotation, landed since the read): nothing was sent, the next pass tries again, no failure."""
    if code == 409:
        return Verdict.unknown("Sending", "the hub changed while the DELIVERED email was being prepared; "
                                          "trying again")
    return Verdict.false("EmailFailed", f"recording the send failed: {code} {message}")


async def deliver(ctx: HubContext, ready: bool) -> Verdict:
    settings = ctx.settings
    annotations, resource_version = dict(ctx.annotations), None
    decision = emails.decide(annotations, ready, ctx.namespace, ctx.name)
    if decision.action == "send":
        if not settings.smtp_host:
            return Verdict.false("EmailNotConfigured", "no SMTP server in the operator's settings (CHUB_SMTP_HOST); "
                                                       "the email goes out once there is one")
        # Kopf's body may predate our own writes: decide again on the annotations as they are now.
        annotations, resource_version = await kube.hub_annotations(ctx.clusters.get(None), ctx.namespace, ctx.name)
        decision = emails.decide(annotations, ready, ctx.namespace, ctx.name)
    if decision.action != "send":
        ctx.delivered_at = annotations.get(emails.DELIVERED_AT)
        return decision.verdict
    client = ctx.clusters.get(None)
    try:
        server = await smtp_server(ctx, settings)
        message = emails.message(ctx.spec, ctx.namespace, ctx.name, sender=settings.smtp_from,
                                    support_url=settings.support_url, support_email=settings.support_email)
        message_id = str(message["Message-ID"])
        # The intent first, on the version just read: a concurrent writer makes this fail (409), not send twice.
        await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {emails.EMAIL_ID: message_id},
                                         resource_version=resource_version)
    except ApiError as err:
        return intent_refused(err.status.code, str(err.status.message))
    except smtp.SmtpError as err:
        return Verdict.false("EmailFailed", str(err))
    try:
        await smtp.send(server, message)
    except smtp.SmtpError as err:
        # Cleanly failed: nothing went out, so the next attempt may send.
        await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {emails.EMAIL_ID: None})
        ctx.log.warning("DELIVERED email failed", error=str(err))
        return Verdict.false("EmailFailed", f"sending to {ctx.spec.community.contact_email} failed: {err}")
    sent_at = conditions.now_rfc3339()
    await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {emails.DELIVERED_AT: sent_at})
    ctx.delivered_at = sent_at
    ctx.log.info("DELIVERED email sent", message_id=message_id, to=ctx.spec.community.contact_email)
    return Verdict.true("EmailSent", f"DELIVERED email {message_id} sent to "
                                     f"{ctx.spec.community.contact_email} at {sent_at}")
