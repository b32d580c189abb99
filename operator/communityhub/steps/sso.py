"""Step 3, SSOReady: who may log in.

Before the hub is deployed, the OAuth client Secret the spec names must exist with both keys (a shared
password's Secret, with passwords JupyterHub accepts), and
a generic OIDC issuer's endpoints must be discovered (else the hub step waits). The keys are copied
into the hub's namespace, where the chart reads them through environment variables: they never
appear in values, status, events or logs.
"""

from __future__ import annotations

import time
from typing import Any

from lightkube.resources.core_v1 import Secret

from communityhub.adapters import cilogon, http, kube
from communityhub.api.conditions import Verdict
from communityhub.delivery import cilogon_clients, identity, render
from communityhub.steps.context import HubContext

CLIENT_KEYS = ("client_id", "client_secret")
#: GitHub has no API that makes OAuth apps (CILogon's clients the operator can make: HubClass cilogonClients).
GITHUB_BY_HAND = ("GitHub offers no API to make OAuth apps, so a person makes it, at "
                  "https://github.com/settings/applications/new or in the organization's settings, with callback")


async def discover(ctx: HubContext, issuer: str) -> dict[str, str]:
    """An issuer's endpoints, cached for ``oidc_discovery_seconds`` so a fleet's resyncs do not refetch."""
    cached = ctx.discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    document = await http.get_json(identity.discovery_url(issuer), timeout_seconds=ctx.settings.http_timeout_seconds,
                                   extra_ca_file=ctx.settings.extra_ca_file,
                                   allow_private=ctx.settings.http_allow_private)
    endpoints = identity.oidc_endpoints(issuer, document)
    ctx.discovery[issuer] = (time.monotonic() + ctx.settings.oidc_discovery_seconds, endpoints)
    return endpoints


async def prepare(ctx: HubContext) -> Verdict:
    """Read the client Secret (and discover an OIDC issuer); False, and the hub step waits, on any gap."""
    if ctx.spec.auth.provider == "temporary":
        refused = identity.temporary_refusal(ctx.spec)
        if refused:
            return Verdict.false("TemporaryUsersRefused", refused)
        return Verdict.unknown("TemporaryUsers", f"no login: {identity.who_gets_in(ctx.spec)}")
    if ctx.spec.auth.provider == "none":
        if refused := identity.public_refusal(ctx.spec, ctx.hub_class.spec, ctx.hub_class.name):
            return refused
        return Verdict.unknown("NoLogin", identity.who_gets_in(ctx.spec))
    if ctx.spec.auth.provider == "sharedPassword":
        return await _shared_password(ctx)
    if cilogon_clients.registers(ctx.spec):
        return await _registered_client(ctx)
    if ctx.spec.auth.client_secret_ref is None:  # the CRD's CEL rule makes this unreachable for admitted objects
        return Verdict.false("ClientSecretNotFound", "auth.clientSecretRef is required for a login provider")
    ref = ctx.spec.auth.client_secret_ref.name
    try:
        data = await kube.read_secret(ctx.clusters.get(None), ref, ctx.namespace)
    except kube.SecretForbidden as err:
        return Verdict.false("SecretForbidden", str(err))
    if data is None:
        return Verdict.false(
            "ClientSecretNotFound",
            f"Secret {ctx.namespace}/{ref} (auth.clientSecretRef) not found: create it with keys "
            f"{' and '.join(CLIENT_KEYS)} from the {ctx.spec.auth.provider} OAuth client"
            + (f" ({GITHUB_BY_HAND} {render.callback_url(ctx.spec)})" if ctx.spec.auth.provider == "github"
               else ""))
    missing = [k for k in CLIENT_KEYS if not data.get(k)]
    if missing:
        return Verdict.false(
            "ClientSecretKeyMissing",
            f"Secret {ctx.namespace}/{ref} (auth.clientSecretRef) has no key {' or '.join(missing)}")
    ctx.login_secret = {k: data[k] for k in CLIENT_KEYS}
    oidc = ctx.spec.auth.oidc
    if ctx.spec.auth.provider == "oidc" and oidc:
        try:
            ctx.oidc_endpoints = await discover(ctx, oidc.issuer)
        except (http.HttpError, ValueError) as err:
            return Verdict.false("IssuerDiscoveryFailed",
                                 f"OIDC issuer {oidc.issuer} cannot be used: {err}")
    return Verdict.unknown("ClientSecretFound", f"OAuth client from Secret {ctx.namespace}/{ref}")


async def _shared_password(ctx: HubContext) -> Verdict:
    """The workshop's passwords, checked as JupyterHub checks them at start-up (so a short one is a condition
    here, not a hub that crash-loops); what they are never appears in a message."""
    shared = ctx.spec.auth.shared_password
    if shared is None:  # the CRD's CEL rule makes this unreachable for admitted objects
        return Verdict.false("PasswordSecretNotFound", "auth.sharedPassword is required for provider sharedPassword")
    ref = shared.secret_ref.name
    try:
        data = await kube.read_secret(ctx.clusters.get(None), ref, ctx.namespace)
    except kube.SecretForbidden as err:
        return Verdict.false("SecretForbidden", str(err))
    if data is None:
        return Verdict.false("PasswordSecretNotFound",
                             f"Secret {ctx.namespace}/{ref} (auth.sharedPassword.secretRef) not found: create it "
                             f"with key userPassword, and adminPassword for the hub's admins")
    refused = identity.shared_password_refusal(data.get("userPassword"), data.get("adminPassword"))
    if refused:
        return Verdict.false("PasswordRefused", f"Secret {ctx.namespace}/{ref}: {refused}")
    ctx.login_secret = {k: data[k] for k in ("userPassword", "adminPassword") if data.get(k)}
    return Verdict.unknown("PasswordSecretFound", f"the workshop's password from Secret {ctx.namespace}/{ref}")


def _http_options(ctx: HubContext) -> dict[str, Any]:
    return {"timeout_seconds": ctx.settings.http_timeout_seconds, "extra_ca_file": ctx.settings.extra_ca_file,
            "allow_private": ctx.settings.http_allow_private}


async def _registered_client(ctx: HubContext) -> Verdict:
    """The hub's CILogon client, registered by the operator with the class's administrative client (kept in the
    operator's namespace; its callback follows the hub's domain)."""
    class_spec = ctx.hub_class.spec
    if refused := cilogon_clients.refusal(ctx.spec, class_spec, ctx.hub_class.name):
        return Verdict.false("ClientSecretNotFound", refused)
    assert class_spec is not None and class_spec.cilogon_clients is not None
    registry = class_spec.cilogon_clients
    client = ctx.clusters.get(None)
    namespace = ctx.settings.namespace
    admin = await kube.read_secret(client, registry.admin_secret, namespace)
    if not admin or not admin.get("client_id") or not admin.get("client_secret"):
        return Verdict.false("CILogonAdminMissing",
                             f"Secret {namespace}/{registry.admin_secret} (HubClass {ctx.hub_class.name} "
                             f"cilogonClients.adminSecret) with keys client_id and client_secret is missing")
    record_name = ctx.names.cilogon_client_secret
    record = await kube.read_secret(client, record_name, namespace)
    todo = cilogon_clients.action(ctx.spec, record)
    details = cilogon_clients.details(ctx.spec, ctx.namespace, ctx.name)
    authorization = cilogon_clients.admin_authorization(admin)
    try:
        if todo == "register":
            made = await cilogon.register(registry.registration_url, authorization, details, **_http_options(ctx))
            record = {"client_id": made["client_id"].encode(), "client_secret": made["client_secret"].encode()}
            ctx.log.info("CILogon client registered", client_id=made["client_id"])
        elif todo == "update" and record is not None:
            await cilogon.update(registry.registration_url, authorization, record["client_id"].decode(), details,
                                 **_http_options(ctx))
            ctx.log.info("CILogon client's callback updated", client_id=record["client_id"].decode())
    except (http.HttpError, cilogon.RegistrationError) as err:
        return Verdict.false("CILogonRegistrationFailed", f"CILogon did not {todo} the hub's client: {err}")
    assert record is not None
    if todo != "keep":
        record = {**record, "redirect_uri": render.callback_url(ctx.spec).encode()}
        await kube.ensure_secret(client, record_name, namespace, record,
                                 {**render.hub_labels(ctx.namespace, ctx.name, ctx.spec),
                                  cilogon_clients.MADE_LABEL: "true"})
    ctx.login_secret = {k: record[k] for k in CLIENT_KEYS}
    return Verdict.unknown("ClientRegistered",
                           f"CILogon client {record['client_id'].decode()} registered by the operator")


async def deregister(ctx: HubContext) -> dict[str, Any] | None:
    """At teardown: the CILogon client the operator registered for the hub, deleted at CILogon, then its record;
    what happened (for the DECOMMISSIONED email), or None when the operator made none. A client a tenant gave is
    never touched."""
    client = ctx.clusters.get(None)
    namespace = ctx.settings.namespace
    record = await kube.read_secret(client, ctx.names.cilogon_client_secret, namespace)
    if not record or not record.get("client_id"):
        return None
    client_id = record["client_id"].decode()
    registry = ctx.hub_class.spec.cilogon_clients if ctx.hub_class.spec is not None else None
    admin = await kube.read_secret(client, registry.admin_secret, namespace) if registry else None
    if registry is None or not admin or not admin.get("client_id") or not admin.get("client_secret"):
        return {"clientId": client_id, "deleted": False,
                "why": "the class's CILogon administrative client is gone"}
    try:
        await cilogon.delete(registry.registration_url, cilogon_clients.admin_authorization(admin), client_id,
                             **_http_options(ctx))
    except http.HttpError as err:
        return {"clientId": client_id, "deleted": False, "why": str(err)}
    await kube.delete_if_present(client, Secret, ctx.names.cilogon_client_secret, namespace)
    ctx.log.info("CILogon client deleted", client_id=client_id)
    return {"clientId": client_id, "deleted": True}


def describe(ctx: HubContext) -> str:
    """Who gets in, in one line (status message and the DELIVERED email)."""
    lets_in = f"{render.AUTHENTICATORS[ctx.spec.auth.provider][1]} lets in {identity.who_gets_in(ctx.spec)}"
    if render.login_secret(ctx.spec) is not render.OAUTH_LOGIN:  # no OAuth client, so no callback to show
        return lets_in
    made = f"; client {ctx.login_secret['client_id'].decode()}, registered by the operator" \
        if cilogon_clients.registers(ctx.spec) and ctx.login_secret else ""
    return f"{lets_in}; callback {render.callback_url(ctx.spec)}{made}"


def verdict(ctx: HubContext, prepared: Verdict, hub: Verdict) -> Verdict:
    if prepared.status == "False":
        return prepared
    if not hub.ok:
        return Verdict.unknown("WaitingForHub", "the authenticator is configured with the hub's release")
    return Verdict.true("AuthenticatorConfigured", describe(ctx))
