"""Who may log in (pure): an OIDC issuer's endpoints from its discovery document, and who a hub's
authenticator lets in, in words (the SSOReady condition and the DELIVERED email)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec, HubClassSpec, PublicAuth
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
    elif auth.provider == "none":
        public = auth.public or PublicAuth()
        who = (f"nobody by login; anyone launches a server from the Binder page, as a user of its own that is "
               f"removed with the server (at most {public.max_concurrent_users} at once, stopped after "
               f"{public.idle_minutes} idle minutes or {public.max_age_minutes} in all)")
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


def public_refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None, class_name: str | None) -> Verdict | None:
    """Why a hub may not be open to anyone with no login (auth.provider none), or None: only its class may allow
    it (publicHubs), within the class's caps, and like temporary users its visitors' files must not outlive them."""
    if spec.auth.provider != "none":
        return None
    bounds = hub_class.public_hubs if hub_class is not None else None
    if bounds is None:
        where = f"HubClass {class_name}" if class_name else "the hub has no HubClass, and"
        return Verdict.false("PublicHubsNotInClass",
                             f"{where} allows no hub without login (its spec.publicHubs is not set): a public Binder "
                             f"hub is open to anyone, which the provider allows class by class")
    public = spec.auth.public or PublicAuth()
    over = [f"{field} {mine} (the class allows {most})" for field, mine, most in (
        ("auth.public.maxConcurrentUsers", public.max_concurrent_users, bounds.max_concurrent_users),
        ("auth.public.idleMinutes", public.idle_minutes, bounds.max_idle_minutes),
        ("auth.public.maxAgeMinutes", public.max_age_minutes, bounds.max_age_minutes)) if mine > most]
    if over:
        return Verdict.false("PublicHubOverBounds", f"{'; '.join(over)}: HubClass {class_name}'s publicHubs")
    if spec.environment.storage.type != "none":
        return Verdict.false(
            "PublicHubKeepsFiles",
            f"a hub with no login lets anyone launch a server, so their files must not outlive it: set "
            f"environment.storage.type: none (this hub keeps {spec.environment.storage.type} homes)")
    return None


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
