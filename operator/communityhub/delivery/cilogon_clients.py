"""The OAuth clients the operator registers with CILogon for its hubs (pure): what a client says, and what to do
with the one a hub has.

CILogon's client management (OA4MP's dynamic client registration, RFC 7591 and 7592) takes the provider's
administrative client as a bearer credential (its id and secret, base64) and creates, reads, updates and deletes
"web" clients. The operator registers a client only for a CILogon hub that names no ``auth.clientSecretRef`` on a
class with ``cilogonClients``; a client a tenant gave it is never touched, and one the operator made is deleted
with the hub.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.delivery import render

#: What a hub's client asks of CILogon: the identity and the groups claims the rendered authenticator reads.
SCOPE = "openid email org.cilogon.userinfo profile"
#: On the operator's record of a client it registered (a Secret in its namespace): what it deletes with the hub.
MADE_LABEL = "hubs.2i2c.org/cilogon-client"


def registers(spec: CommunityHubSpec) -> bool:
    """Whether the operator is to register this hub's client (else the tenant's Secret holds it)."""
    return spec.auth.provider == "cilogon" and spec.auth.client_secret_ref is None


def refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None, class_name: str | None) -> str | None:
    """Why the hub has no client to log in with, or None."""
    if not registers(spec) or (hub_class is not None and hub_class.cilogon_clients is not None):
        return None
    where = f"HubClass {class_name}" if class_name else "the hub has no HubClass, which"
    return (f"auth.clientSecretRef is not set, and {where} registers no CILogon clients (cilogonClients): name the "
            f"Secret of the hub's CILogon client, or use a class that registers them")


def client_name(namespace: str, name: str) -> str:
    """The client's name at CILogon (its list of a provider's clients shows it): the hub's."""
    return f"communityhub-{namespace}-{name}"


def details(spec: CommunityHubSpec, namespace: str, name: str) -> dict[str, Any]:
    return {"client_name": client_name(namespace, name), "app_type": "web",
            "redirect_uris": [render.callback_url(spec)], "scope": SCOPE}


def admin_authorization(admin: Mapping[str, bytes]) -> str:
    """The administrative client as CILogon takes it: Bearer base64(id:secret)."""
    pair = admin["client_id"] + b":" + admin["client_secret"]
    return "Bearer " + base64.urlsafe_b64encode(pair).decode()


def action(spec: CommunityHubSpec, record: Mapping[str, bytes] | None) -> str:
    """What to do with the hub's client: ``register`` (none yet), ``update`` (its callback moved with the hub's
    domain) or ``keep``."""
    if not record or not record.get("client_id") or not record.get("client_secret"):
        return "register"
    return "keep" if record.get("redirect_uri", b"").decode() == render.callback_url(spec) else "update"
