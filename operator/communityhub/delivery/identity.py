"""Who may log in (pure): an OIDC issuer's endpoints from its discovery document, and who a hub's
authenticator lets in, in words (the SSOReady condition and the DELIVERED email)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import render


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def oidc_endpoints(issuer: str, document: Any) -> dict[str, str]:
    """The endpoints GenericOAuthenticator needs, from an issuer's discovery document (pure).

    Raises ValueError when the document is not for this issuer or lacks an endpoint.
    """
    if not isinstance(document, Mapping):
        raise ValueError("the discovery document is not a JSON object")
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}")
    missing = [k for k in render.OIDC_ENDPOINTS if not isinstance(document.get(k), str) or not document[k]]
    if missing:
        raise ValueError(f"the discovery document has no {', '.join(missing)}")
    return {k: str(document[k]) for k in render.OIDC_ENDPOINTS}


def who_gets_in(spec: CommunityHubSpec) -> str:
    auth = spec.auth
    if auth.provider == "github" and auth.github:
        who = "members of GitHub " + "; ".join(
            f"organization {org}" + (f" (teams {', '.join(teams)})" if teams else "")
            for org, teams in auth.github.allowed())
        if auth.github.admin_teams:
            who += f"; admins: teams {', '.join(auth.github.admin_teams)}"
    elif auth.provider == "cilogon" and auth.cilogon:
        who = "CILogon users from " + "; ".join(
            idp.entity_id + (f" (email domains {', '.join(idp.allowed_domains)})" if idp.allowed_domains
                             else " (every user)" if idp.allow_all
                             else " (only the users named below and the hub's admins)")
            for idp in auth.cilogon.allowed_idps)
    elif auth.provider == "oidc" and auth.oidc:
        who = f"users of OIDC issuer {auth.oidc.issuer}"
        if auth.oidc.allowed_groups:
            who += f" in group(s) {', '.join(auth.oidc.allowed_groups)}"
    elif auth.provider == "oauth2" and auth.oauth2:
        who = f"users of {auth.oauth2.login_service} ({auth.oauth2.authorize_url.split('/')[2]})"
        if auth.oauth2.allowed_groups:
            who += f" in group(s) {', '.join(auth.oauth2.allowed_groups)}"
    elif auth.provider == "google" and auth.google:
        # The hosted domains are a hard filter: a named user outside them is never let in.
        who = f"every Google account of {', '.join(auth.google.hosted_domains)}"
    elif auth.provider == "temporary":
        cap = auth.temporary.max_concurrent_users if auth.temporary else 100
        who = f"anyone who opens it, as a temporary user (at most {cap} servers at once)"
    elif auth.provider == "sharedPassword":
        who = ("the users named below, with the workshop's password" if auth.allowed_users else
               "anyone with the workshop's password, as any user name that is not an admin's")
        if spec.hub.admin_users:
            who += "; admins with the admin password"
    else:
        who = "nobody"
    if auth.allowed_users and auth.provider != "google":
        who += f", and by name: {', '.join(auth.allowed_users)}"
    return who


def temporary_refusal(spec: CommunityHubSpec) -> str | None:
    """Why a hub may not let anyone in as a temporary user, or None: an open hub whose users' files outlive their
    session, with no end, would be a store anyone can read and fill."""
    if spec.auth.provider != "temporary":
        return None
    if spec.environment.storage.type == "none" or spec.lifecycle.window is not None:
        return None
    return (f"temporary users (auth.provider: temporary) let anyone in, so their files must not outlive the session "
            f"or the hub its event: set environment.storage.type: none, or a lifecycle.window (this hub keeps "
            f"{spec.environment.storage.type} homes and has no window)")


#: JupyterHub's own bounds on shared passwords (SharedPasswordAuthenticator refuses to start otherwise).
USER_PASSWORD_MIN = 8
ADMIN_PASSWORD_MIN = 32


def shared_password_refusal(user: bytes | None, admin: bytes | None) -> str | None:
    """Why JupyterHub would refuse these passwords at start-up, in words that do not hold them, or None."""
    if not user:
        return "it has no key userPassword (the password attendees log in with)"
    if len(user.decode(errors="replace")) < USER_PASSWORD_MIN:
        return f"userPassword must be {USER_PASSWORD_MIN} characters or more"
    if admin is not None and admin:
        if len(admin.decode(errors="replace")) < ADMIN_PASSWORD_MIN:
            return f"adminPassword must be {ADMIN_PASSWORD_MIN} characters or more"
        if admin == user:
            return "adminPassword must not be the same as userPassword"
    return None
