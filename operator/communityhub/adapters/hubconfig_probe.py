"""Run inside the JupyterHub chart's hub software (an environment built from the hub image's pinned
requirements), never imported by the operator: load the chart's own ``jupyterhub_config.py`` as the hub pod
does, and print, as JSON, what its users get: the authenticator's rules, the hub's settings, and for each
test user and each profile and image choice the pod KubeSpawner would create (``get_pod_manifest`` and the
``modify_pod_hook``).

Usage: ``python hubconfig_probe.py <workdir>``, in a private mount namespace (``unshare -m``): it binds
``<workdir>/etc`` at ``/usr/local/etc/jupyterhub``, where the chart's ConfigMap and Secret are mounted in the
hub pod, and reads ``<workdir>/request.json``: ``{"env": {...}, "users": [{"name", "admin", "groups"}]}`` (a user's
``options``: the user_options of a launch on a hub without profiles).
No Kubernetes API is called. Secret values never reach the output (see ``SECRET_WORDS``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CONFIG_DIR = "/usr/local/etc/jupyterhub"
#: Trait names whose values are secrets, left out of every answer.
SECRET_WORDS = ("secret", "token", "password", "private_key", "client_id")
#: Authenticator traits that decide who logs in and who is admin (when set in the configuration).
AUTH_TRAITS = (
    "allow_all", "allow_existing_users", "allowed_users", "admin_users", "blocked_users", "username_pattern",
    "allowed_organizations", "populate_teams_in_auth_state", "allowed_groups", "admin_groups", "manage_groups",
    "auth_state_groups_key", "allowed_idps", "hosted_domain", "strip_domain", "username_claim", "scope",
    "login_service", "authorize_url", "token_url", "userdata_url", "oauth_callback_url", "enable_auth_state",
    "claim_groups_key", "allowed_google_groups", "admin_google_groups", "shown_idps", "username_map",
    "auto_login", "refresh_pre_spawn", "auth_refresh_age", "delete_invalid_users",
)
#: JupyterHub traits users meet.
HUB_TRAITS = (
    "allow_named_servers", "named_server_limit_per_user", "active_server_limit", "concurrent_spawn_limit",
    "default_url", "template_vars", "template_paths", "redirect_to_server", "shutdown_on_logout",
    "authenticate_prometheus",
)


def bind_config(workdir: Path) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/usr/local/etc"], check=True)
    os.makedirs(CONFIG_DIR)
    subprocess.run(["mount", "--bind", str(workdir / "etc"), CONFIG_DIR], check=True)


def plain(value: Any) -> Any:
    """A JSON-able form of a trait's value: callables and classes by their qualified name."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', type(value).__name__)}>"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def traits(obj: Any, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The configurable traits of ``obj`` set away from their defaults (``names`` limits them)."""
    out = {}
    for name, trait in sorted(obj.traits(config=True).items()):
        if names is not None and name not in names:
            continue
        if any(word in name for word in SECRET_WORDS):
            continue
        value = getattr(obj, name)
        if value != trait.default():
            out[name] = plain(value)
    return out


class Group:
    def __init__(self, name: str) -> None:
        self.name = name


class User:
    """What KubeSpawner reads of a JupyterHub user."""

    def __init__(self, name: str, admin: bool, groups: list[str]) -> None:
        self.name, self.admin, self.id = name, admin, 1000
        self.groups = [Group(g) for g in groups]
        self.url = f"/user/{name}/"
        self.spawners: dict[str, Any] = {}
        self.settings: dict[str, Any] = {}


class Hub:
    public_host = ""
    url = "http://hub:8081/hub/"
    base_url = "/hub/"
    api_url = "http://hub:8081/hub/api"


async def pods(app: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod of every profile and image choice this user is offered."""
    from kubernetes_asyncio.client import ApiClient

    def spawner(options: dict[str, Any]) -> Any:
        made = app.spawner_class(config=app.config, user=User(user["name"], user["admin"], user["groups"]),
                                 hub=Hub(), _mock=True)
        made.user_options = options
        made.api_token = "probe"
        return made

    first = spawner({})
    offered = first.profile_list
    if callable(offered):
        try:
            offered = await offered(first) if asyncio.iscoroutinefunction(offered) else offered(first)
        except Exception as err:  # the hub refuses this user every profile (a group filter, say)
            return [{"user": user["name"], "profile": None, "options": {}, "error": f"{type(err).__name__}: {err}"}]
    offered = first._get_initialized_profile_list(offered or [])
    cases: list[tuple[str | None, dict[str, Any], dict[str, Any]]] = []
    for profile in offered or [{"slug": None}]:
        slug = profile.get("slug")
        options = {name: option for name, option in (profile.get("profile_options") or {}).items()
                   if option.get("choices")}
        # What the spawn form posts: every option at its default choice, then each other choice in turn.
        base = {name: next((k for k, c in option["choices"].items() if c.get("default")), next(iter(option["choices"])))
                for name, option in options.items()}

        def labels(chosen: dict[str, str], profile: dict[str, Any] = profile,
                   options: dict[str, Any] = options) -> dict[str, Any]:
            """What the user clicks: the profile's and each option's and choice's display names."""
            return {"profile": profile.get("display_name") or profile.get("slug"),
                    "options": {options[n].get("display_name") or n:
                                options[n]["choices"][k].get("display_name") or k for n, k in chosen.items()}}
        # Without profiles: what the user's launch sends (a Binder launch's image and token), else nothing.
        cases.append((slug, {"profile": slug, **base} if slug else dict(user.get("options") or {}), labels(base)))
        for name, option in options.items():
            for key in option["choices"]:
                if key != base[name]:
                    cases.append((slug, {"profile": slug, **base, name: key}, labels({**base, name: key})))
    out = []
    api = ApiClient()
    for slug, options, shown in cases:
        entry: dict[str, Any] = {"user": user["name"], "profile": slug,
                                 "options": {k: v for k, v in options.items() if k != "profile"},
                                 **({"labels": shown} if slug else {})}
        try:
            made = spawner(options)
            await made.load_user_options()
            pod = await made.get_pod_manifest()
            if made.modify_pod_hook:
                pod = made.modify_pod_hook(made, pod)
                if asyncio.iscoroutine(pod):
                    pod = await pod
        except Exception as err:  # what the user would see instead of a server
            entry["error"] = f"{type(err).__name__}: {err}"
            out.append(entry)
            continue
        entry.update({"pod": api.sanitize_for_serialization(pod), "start_timeout": made.start_timeout,
                      "http_timeout": made.http_timeout, "cmd": plain(made.cmd), "default_url": made.default_url})
        out.append(entry)
    await api.close()
    return out


def main(workdir: Path) -> dict[str, Any]:
    request = json.loads((workdir / "request.json").read_text())
    bind_config(workdir)
    os.environ.update(request["env"])
    from jupyterhub.app import JupyterHub

    app = JupyterHub()
    # As JupyterHub loads it (load_config_file merges it into the app's config; nothing copies it afterwards, so a
    # plain dict under a section, a misplaced key of a real hub's values, is ignored as the hub ignores it).
    app.load_config_file(f"{CONFIG_DIR}/jupyterhub_config.py")
    authenticator = app.authenticator_class(config=app.config)
    services = [{k: plain(v) for k, v in s.items() if not any(w in k for w in SECRET_WORDS)}
                for s in app.services]
    roles = [plain(r) for r in app.load_roles]
    servers: list[dict[str, Any]] = []
    for user in request["users"]:
        servers.extend(asyncio.run(pods(app, user)))
    return {
        "authenticator": {"class": f"{type(authenticator).__module__}.{type(authenticator).__qualname__}",
                          **traits(authenticator, AUTH_TRAITS)},
        "hub": traits(app, HUB_TRAITS),
        "services": services,
        "roles": roles,
        "servers": servers,
    }


if __name__ == "__main__":
    answer = main(Path(sys.argv[1]))
    sys.stdout.write("\n@@probe@@" + json.dumps(answer, sort_keys=True) + "\n")
