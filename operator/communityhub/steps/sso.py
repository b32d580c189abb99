"""Step 3, SSOReady: who may log in.

Before the hub is deployed, the OAuth client Secret the spec names must exist with both keys (else
the hub step waits). The keys are copied into the hub's namespace, where the chart reads them
through environment variables: they never appear in values, status, events or logs.
"""

from __future__ import annotations

from communityhub import render
from communityhub.adapters import kube
from communityhub.conditions import Verdict
from communityhub.context import HubContext

CLIENT_KEYS = ("client_id", "client_secret")


async def prepare(ctx: HubContext) -> Verdict:
    """Read the client Secret; False (the hub step waits) when it or a key is missing."""
    ref = ctx.spec.auth.client_secret_ref.name
    data = await kube.read_secret(ctx.clusters.get(None), ref, ctx.namespace)
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
    ctx.oauth_client = {k: data[k] for k in CLIENT_KEYS}
    return Verdict.unknown("ClientSecretFound", f"OAuth client from Secret {ctx.namespace}/{ref}")


def describe(ctx: HubContext) -> str:
    spec = ctx.spec
    auth = spec.auth
    if auth.provider == "github" and auth.github:
        who = f"members of GitHub organization {auth.github.organization}"
        if auth.github.teams:
            who += f" (teams {', '.join(auth.github.teams)})"
    elif auth.provider == "cilogon" and auth.cilogon:
        who = f"CILogon users from {len(auth.cilogon.allowed_idps)} identity provider(s)"
    elif auth.oidc:
        who = f"users of OIDC issuer {auth.oidc.issuer}"
    else:
        who = "nobody"
    authenticator = render.AUTHENTICATORS[auth.provider][1]
    return f"{authenticator} lets in {who}; callback {render.hub_url(spec)}/hub/oauth_callback"


def verdict(ctx: HubContext, prepared: Verdict, hub: Verdict) -> Verdict:
    if prepared.status == "False":
        return prepared
    if not hub.ok:
        return Verdict.unknown("WaitingForHub", "the authenticator is configured with the hub's release")
    return Verdict.true("AuthenticatorConfigured", describe(ctx))
