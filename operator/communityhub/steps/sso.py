"""Step 3, SSOReady: who may log in.

Before the hub is deployed, the OAuth client Secret the spec names must exist with both keys (a shared
password's Secret, with passwords JupyterHub accepts), and
a generic OIDC issuer's endpoints must be discovered (else the hub step waits). The keys are copied
into the hub's namespace, where the chart reads them through environment variables: they never
appear in values, status, events or logs.
"""

from __future__ import annotations

import time

from communityhub.adapters import http, kube
from communityhub.api.conditions import Verdict
from communityhub.delivery import identity, render
from communityhub.steps.context import HubContext

CLIENT_KEYS = ("client_id", "client_secret")


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
    if ctx.spec.auth.provider == "sharedPassword":
        return await _shared_password(ctx)
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
            f"{' and '.join(CLIENT_KEYS)} from the {ctx.spec.auth.provider} OAuth client")
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


def describe(ctx: HubContext) -> str:
    """Who gets in, in one line (status message and the DELIVERED email)."""
    lets_in = f"{render.AUTHENTICATORS[ctx.spec.auth.provider][1]} lets in {identity.who_gets_in(ctx.spec)}"
    if ctx.spec.auth.provider in ("temporary", "sharedPassword"):
        return lets_in
    return f"{lets_in}; callback {render.callback_url(ctx.spec)}"


def verdict(ctx: HubContext, prepared: Verdict, hub: Verdict) -> Verdict:
    if prepared.status == "False":
        return prepared
    if not hub.ok:
        return Verdict.unknown("WaitingForHub", "the authenticator is configured with the hub's release")
    return Verdict.true("AuthenticatorConfigured", describe(ctx))
