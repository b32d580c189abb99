"""What users get on two sides of a move, compared (pure): the answers of ``adapters.hubconfig.probe`` for
the values a hub is deployed with today and for the values the operator renders for its CommunityHub.

A pod is compared by what its user meets, not by how the chart names things: each mount by its path, with
the volume behind it (a claim by its name, an emptyDir by its medium and size, a ConfigMap or Secret by its
name), and the container's image, pull policy, resources, environment, working directory, command, hooks
and security context, the init containers, and where it may run. What users (and their servers' tokens) may do
is compared by the scopes of their roles. Environment variables JupyterHub sets
per server (``JUPYTERHUB_*``: its API token and URLs) are left out: they name the hub, not the user's
environment.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

#: Environment variables JupyterHub sets for each server, whose values name the hub or carry its token.
PER_SERVER_ENV = ("JUPYTERHUB_", "JPY_")


@dataclasses.dataclass(frozen=True)
class Difference:
    """One thing users get differently: ``where`` (authenticator, hub, a server), ``path`` in it, both values
    (None: absent on that side)."""

    where: str
    path: str
    source: Any
    hub: Any

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _volume_source(volume: Mapping[str, Any]) -> Any:
    if "persistentVolumeClaim" in volume:
        return {"claim": volume["persistentVolumeClaim"].get("claimName")}
    if "emptyDir" in volume:
        return {"emptyDir": volume["emptyDir"] or {}}
    if "configMap" in volume:
        return {"configMap": volume["configMap"].get("name"), "items": volume["configMap"].get("items")}
    if "secret" in volume:
        return {"secret": volume["secret"].get("secretName"), "items": volume["secret"].get("items")}
    return {k: v for k, v in volume.items() if k != "name"}


def _mounts(container: Mapping[str, Any], volumes: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for mount in container.get("volumeMounts") or []:
        out[mount["mountPath"]] = {"volume": volumes.get(mount["name"], {"missing": mount["name"]}),
                                   "subPath": mount.get("subPath"), "readOnly": bool(mount.get("readOnly"))}
    return out


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    """As the API server admits them: an extended resource (a GPU) with a limit and no request is requested
    at its limit."""
    resources = {k: dict(v or {}) for k, v in (container.get("resources") or {}).items()}
    limits, requests = resources.get("limits") or {}, resources.setdefault("requests", {})
    for name, value in limits.items():
        if name not in ("cpu", "memory", "ephemeral-storage") and name not in requests:
            requests[name] = value
    return {k: v for k, v in resources.items() if v}


def _env(container: Mapping[str, Any]) -> dict[str, Any]:
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container.get("env") or []
            if not var["name"].startswith(PER_SERVER_ENV)}


def pod_view(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What a user meets in a pod, keyed so that two charts' namings compare equal."""
    spec = pod.get("spec") or {}
    volumes = {v["name"]: _volume_source(v) for v in spec.get("volumes") or []}
    container = (spec.get("containers") or [{}])[0]
    return {
        "image": container.get("image"),
        "imagePullPolicy": container.get("imagePullPolicy"),
        "resources": _resources(container),
        "env": _env(container),
        "mounts": _mounts(container, volumes),
        "workingDir": container.get("workingDir"),
        "args": container.get("args"),
        "command": container.get("command"),
        "lifecycle": container.get("lifecycle"),
        "securityContext": container.get("securityContext"),
        "podSecurityContext": spec.get("securityContext"),
        "initContainers": {c["name"]: {"image": c.get("image"), "command": c.get("command"),
                                       "args": c.get("args"), "mounts": _mounts(c, volumes)}
                           for c in spec.get("initContainers") or []},
        "nodeSelector": spec.get("nodeSelector") or {},
        "tolerations": sorted(spec.get("tolerations") or [], key=json.dumps),
        "nodeAffinity": ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"),
        "extraContainers": sorted(c.get("name", "") for c in (spec.get("containers") or [])[1:]),
    }


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested maps by dotted path (a list is one leaf: its order and whole content matter). An
    absent value, an empty map and an empty list are the same: nothing."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if value is None or value == []:
        return {}
    return {prefix: value}


def _diff(where: str, source: Mapping[str, Any], hub: Mapping[str, Any]) -> list[Difference]:
    a, b = _flat(source), _flat(hub)
    return [Difference(where, path, a.get(path), b.get(path))
            for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]


def server_key(server: Mapping[str, Any]) -> str:
    """A server by what its user clicks (the profile's and the choices' display names, where the probe read
    them): two charts' slugs and choice keys for the same thing then compare equal."""
    labels = server.get("labels") or {}
    profile = labels.get("profile") or server.get("profile") or "-"
    chosen = labels.get("options") if labels else server.get("options")
    options = ",".join(f"{k}={v}" for k, v in sorted((chosen or {}).items()))
    return f"{server['user']}/{profile}" + (f"[{options}]" if options else "")


def refusal(error: str) -> str:
    """What a user is refused with, without the words: the exception and an HTTP status (two charts word
    the same refusal differently, and name their options differently)."""
    status = re.search(r"HTTP (\d{3})", error)
    return error.split(":", 1)[0] + (f" {status.group(1)}" if status else "")


def _servers(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {server_key(s): ({"error": refusal(s["error"])} if "error" in s else
                            {**pod_view(s["pod"]), "defaultUrl": s.get("default_url"), "cmd": s.get("cmd"),
                             "startTimeout": s.get("start_timeout")})
            for s in answer.get("servers") or []}


#: The roles every user and every server holds (JupyterHub's own names): what a user, and a notebook's token, may do.
EVERYONES_ROLES = ("user", "server")


def _roles(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What users may do by role: the scopes of everyone's roles (user, server), and of each role granted to
    users or groups (with whom). Roles of services are the services' (the operator runs its own)."""
    out: dict[str, Any] = {}
    for role in answer.get("roles") or []:
        name = str(role.get("name"))
        if name in EVERYONES_ROLES or role.get("users") or role.get("groups"):
            out[name] = {"scopes": sorted(set(role.get("scopes") or [])),
                         "users": sorted(role.get("users") or []), "groups": sorted(role.get("groups") or [])}
    return out


def compare(source: Mapping[str, Any], hub: Mapping[str, Any],
            ignore: Mapping[str, tuple[str, ...]] | None = None) -> list[Difference]:
    """Every difference in what users get, ``source`` (today's hub) against ``hub`` (its CommunityHub).
    ``ignore``: per ``where`` (``authenticator``, ``hub``, ``server``), path prefixes meant to differ."""
    ignore = ignore or {}
    out = _diff("authenticator", source.get("authenticator") or {}, hub.get("authenticator") or {})
    out += _diff("hub", source.get("hub") or {}, hub.get("hub") or {})
    out += _diff("roles", _roles(source), _roles(hub))
    a, b = _servers(source), _servers(hub)
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            out.append(Difference(f"server {key}", "offered", key in a, key in b))
            continue
        out += _diff(f"server {key}", a[key], b[key])

    def kept(d: Difference) -> bool:
        kind = d.where.split(" ", 1)[0]
        return not any(d.path == p or d.path.startswith(p + ".") for p in ignore.get(kind, ()))
    return [d for d in out if kept(d)]
