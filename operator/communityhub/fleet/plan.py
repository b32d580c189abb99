"""What a change of manifests would do to the fleet, before it merges (pure): ``hubctl plan``.

Two sets of objects: what the cluster holds (``before``: read from it, or a saved ``kubectl get -o yaml`` of it)
and what a pull request would make it hold (``after``: its directory of manifests, over ``before``). For every
CommunityHub the change touches (its own manifest, or the HubClass it resolves to) both sides are rendered the way
the hub step renders them, and compared:

- ``helm``: whether the values hash moves, so helm runs for the hub (the operator runs it nowhere else);
- ``valuesDiff``: the changed chart values, by path (a value under a key that names a secret is never shown);
- ``conditions``: what the operator's pure policy would say of the new spec: a refusal is seen before merge;
- ``estimate``: a dedicated hub's monthly estimate, before and after.

What the plan cannot see is the same on both sides and left out of both: Secrets' contents (an OAuth client's
checksum), an OIDC issuer's discovered endpoints, the buckets a hub's cloud made. A FleetRollout is listed when it
changes; the hubs it reaches get its values wave by wave, after the plan (``rollout``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec, FleetRolloutSpec, HubClassSpec
from communityhub.delivery import binder, components, dask, identity, names, policy, render
from communityhub.delivery import classes as hub_classes
from communityhub.money import estimate as estimates

KINDS = {"CommunityHub", "HubClass", "FleetRollout"}
#: A chart value under a key like these is shown as changed, never as what it is.
SECRET_KEY = re.compile(r"(?i)(password|secret|token|private|credential|api_?key|cookie)")
#: The stand-in for an OIDC issuer's endpoints: the same on both sides, so they never show as a change.
PLANNED_ENDPOINTS = {key: f"https://issuer.invalid/{key}" for key in render.OIDC_ENDPOINTS}
SHOWN = 200


@dataclasses.dataclass
class Objects:
    """The fleet's objects of one side: CommunityHubs by (namespace, name), HubClasses and FleetRollouts by name."""

    hubs: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    classes: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    rollouts: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def add(self, doc: Mapping[str, Any]) -> None:
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        if kind == "List":
            for item in doc.get("items") or []:
                self.add(item)
        elif kind == "CommunityHub":
            self.hubs[(str(meta.get("namespace") or "default"), str(meta["name"]))] = dict(doc)
        elif kind == "HubClass":
            self.classes[str(meta["name"])] = dict(doc)
        elif kind == "FleetRollout":
            self.rollouts[str(meta["name"])] = dict(doc)

    def over(self, other: Objects) -> Objects:
        """These objects applied over ``other`` (kubectl apply of a directory: what it names is replaced)."""
        return Objects({**other.hubs, **self.hubs}, {**other.classes, **self.classes},
                       {**other.rollouts, **self.rollouts})


def objects(docs: Iterable[Mapping[str, Any] | None]) -> Objects:
    out = Objects()
    for doc in docs:
        if doc:
            out.add(doc)
    return out


@dataclasses.dataclass(frozen=True)
class Defaults:
    """The operator's settings a rendering needs (its chart, and the open value paths of every hub)."""

    chart_name: str = "jupyterhub"
    chart_version: str = "4.4.0"
    open_value_paths: tuple[str, ...] = ()
    operator_namespace: str = "communityhub-system"


@dataclasses.dataclass(frozen=True)
class Side:
    """One hub as one side would deploy it."""

    values: dict[str, Any]
    hash: str
    conditions: list[dict[str, str]]
    estimate: dict[str, Any] | None


def _default_class(classes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The default class among these manifests, by the operator's own rule (classes.default_class)."""
    return hub_classes.default_class({name: hub_classes.index_entry(doc) for name, doc in classes.items()})


def class_of(hub: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> str | None:
    return (hub.get("spec") or {}).get("hubClassName") or _default_class(classes)


def _condition(kind: str, verdict: Verdict) -> dict[str, str]:
    return {"type": kind, "status": verdict.status, "reason": verdict.reason, "message": verdict.message}


def conditions(spec: CommunityHubSpec, class_name: str | None, hub_class: HubClassSpec | None,
               values: Mapping[str, Any], defaults: Defaults) -> list[dict[str, str]]:
    """The refusals the operator's pure policy would give the spec (what the steps check before helm runs)."""
    out: list[dict[str, str]] = []
    if class_name is not None and hub_class is None:
        out.append({"type": "EnvironmentReady", "status": "False", "reason": "HubClassNotFound",
                    "message": f"HubClass {class_name} does not exist"})
    environment = policy.environment(spec, hub_class)
    if environment.status == "False":
        out.append(_condition("EnvironmentReady", environment))
    if refused := identity.temporary_refusal(spec):
        out.append(_condition("SSOReady", Verdict.false("TemporaryUsersRefused", refused)))
    if refused_public := identity.public_refusal(spec, hub_class, class_name):
        out.append(_condition("SSOReady", refused_public))
    # In the hub step's order: the first refusal of the spec against its class, then the rendered mounts'.
    hub_checks = (policy.hub_refusal(spec, hub_class, class_name, defaults.open_value_paths),
                  policy.mount_refusal(render.mounts_without_volume(dict(values)), spec.environment.storage.type))
    out += [_condition("HubReady", v) for v in hub_checks if v is not None]
    refused = dask.refusal(spec, dask.tier_default(spec.community.membership, hub_class),
                           policy.archetype_limits(spec, hub_class))
    if refused is not None:
        out.append(_condition("DaskReady", refused))
    if refused := binder.refusal(spec, hub_class, class_name):
        out.append(_condition("BinderReady", refused))
    return out


def side(namespace: str, name: str, hub: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]],
         defaults: Defaults, prices: Mapping[str, Any]) -> Side:
    """A hub as this side's objects would deploy it (raises ValidationError for a manifest the API refuses)."""
    spec = CommunityHubSpec.model_validate(hub.get("spec") or {})
    class_name = class_of(hub, classes)
    class_doc = classes.get(class_name) if class_name else None
    hub_class = HubClassSpec.model_validate(class_doc.get("spec") or {}) if class_doc is not None else None
    hub_names = names.derive(namespace, name)
    values = render.values(namespace, name, spec, PLANNED_ENDPOINTS, defaults.operator_namespace, hub_names.release,
                           class_values=hub_class.values if hub_class else None, catalog=hub_class,
                           hub_namespace=hub_names.namespace)
    values = components.with_hub_side(values, spec, hub_class, hub_names)
    own = hub_class.chart if hub_class else None
    chart = own.name if own and own.name else defaults.chart_name
    version = spec.hub.chart.version or (own.version if own and own.version else None) or defaults.chart_version
    found = estimates.estimate(spec, prices)
    return Side(values, render.values_hash(chart, version, values),
                conditions(spec, class_name, hub_class, values, defaults),
                {**found.to_status(), "describe": found.describe()} if found is not None else None)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _shown(path: str, value: Any) -> Any:
    if value is None:
        return None
    if any(SECRET_KEY.search(part) for part in path.split(".")):
        return "(hidden: " + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8] + ")"
    text = json.dumps(value) if not isinstance(value, str) else value
    return value if len(text) <= SHOWN else text[:SHOWN] + "..."


def values_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The chart values that change, by dotted path (absent on a side: None), a secret's never shown."""
    a, b = _flat(before or {}), _flat(after or {})
    return [{"path": path, "before": _shown(path, a.get(path)), "after": _shown(path, b.get(path))}
            for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]


SPECS = {"CommunityHub": CommunityHubSpec, "HubClass": HubClassSpec, "FleetRollout": FleetRolloutSpec}


def _spec(doc: Mapping[str, Any]) -> Any:
    """A spec with the API's defaults filled in, as the API server stores it (a manifest leaves them out)."""
    model = SPECS.get(str(doc.get("kind")))
    try:
        return model.model_validate(doc.get("spec") or {}).model_dump(mode="json") if model else doc.get("spec")
    except ValidationError:
        return doc.get("spec")


def _changed(before: Mapping[Any, Mapping[str, Any]], after: Mapping[Any, Mapping[str, Any]]) -> dict[Any, str]:
    """Which objects a change creates, changes or deletes: a spec that differs, or a label or annotation the new
    manifest sets otherwise (apply leaves the others, the operator's own, as they are)."""
    def meta_moved(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        was, will = old.get("metadata") or {}, new.get("metadata") or {}
        return any(dict(was.get(part) or {}).get(k) != v
                   for part in ("labels", "annotations") for k, v in dict(will.get(part) or {}).items())
    out: dict[Any, str] = {}
    for key in set(before) | set(after):
        if key not in before:
            out[key] = "created"
        elif key not in after:
            out[key] = "deleted"
        elif _spec(before[key]) != _spec(after[key]) or meta_moved(before[key], after[key]):
            out[key] = "changed"
    return out


def plan(before: Objects, after: Objects, defaults: Defaults, prices: Mapping[str, Any]) -> dict[str, Any]:
    """The plan of going from ``before`` to ``after``: ``objects`` (each changed object) and ``hubs`` (each hub the
    change touches: its own manifest changed, or the class it resolves to on either side)."""
    hubs_changed = _changed(before.hubs, after.hubs)
    classes_changed = _changed(before.classes, after.classes)
    rollouts_changed = _changed(before.rollouts, after.rollouts)
    changed_objects = sorted(
        [{"kind": "CommunityHub", "name": f"{ns}/{n}", "change": c} for (ns, n), c in hubs_changed.items()]
        + [{"kind": "HubClass", "name": n, "change": c} for n, c in classes_changed.items()]
        + [{"kind": "FleetRollout", "name": n, "change": c} for n, c in rollouts_changed.items()],
        key=lambda o: (o["kind"], o["name"]))
    default_moved = _default_class(before.classes) != _default_class(after.classes)
    entries = []
    for key in sorted(set(before.hubs) | set(after.hubs)):
        old, new = before.hubs.get(key), after.hubs.get(key)
        old_class = class_of(old, before.classes) if old else None
        new_class = class_of(new, after.classes) if new else None
        touched = key in hubs_changed or old_class in classes_changed or new_class in classes_changed or (
            default_moved and not ((new or old or {}).get("spec") or {}).get("hubClassName"))
        if not touched:
            continue
        entry = _hub_entry(key, old, new, before, after, defaults, prices)
        if entry["change"] == "changed" and key not in hubs_changed:
            entry["change"] = "its class"  # the hub's manifest is the same: its class (or the default) moved
        entries.append(entry)
    rollouts = [{"name": n, "change": c, "note": "its hubs get its target wave by wave once it merges"}
                for n, c in sorted(rollouts_changed.items())]
    return {"objects": changed_objects, "hubs": entries, "rollouts": rollouts}


def _hub_entry(key: tuple[str, str], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
               before: Objects, after: Objects, defaults: Defaults, prices: Mapping[str, Any]) -> dict[str, Any]:
    namespace, name = key
    entry: dict[str, Any] = {"namespace": namespace, "name": name}
    sides: list[Side | None] = []
    for doc, objs in ((old, before), (new, after)):
        if doc is None:
            sides.append(None)
            continue
        try:
            sides.append(side(namespace, name, doc, objs.classes, defaults, prices))
        except (ValidationError, ValueError) as err:
            if objs is after:
                entry.update({"helm": False, "valuesDiff": [], "estimate": None, "conditions": [
                    {"type": "Valid", "status": "False", "reason": "Invalid",
                     "message": _first_line(str(err))}], "change": "invalid"})
                return entry
            sides.append(None)
    was, will = sides
    entry["change"] = "created" if old is None else "deleted" if new is None else "changed"
    entry["helm"] = will is not None and (was is None or was.hash != will.hash)
    entry["valuesDiff"] = values_diff(was.values if was else None, will.values if will else None)
    entry["conditions"] = will.conditions if will else []
    entry["estimate"] = ({"before": was.estimate if was else None, "after": will.estimate if will else None}
                         if (was and was.estimate) or (will and will.estimate) else None)
    return entry


def _first_line(text: str) -> str:
    return " ".join(text.split())[:500]


def refused(result: Mapping[str, Any]) -> list[str]:
    """The hubs the change would leave refused (a condition False), as namespace/name."""
    return [f"{h['namespace']}/{h['name']}" for h in result["hubs"]
            if any(c["status"] == "False" for c in h.get("conditions") or [])]


def markdown(result: Mapping[str, Any]) -> str:
    """The plan as a pull-request comment."""
    lines = ["### hubctl plan", ""]
    if not result["objects"]:
        return "\n".join([*lines, "No CommunityHub, HubClass or FleetRollout changes."])
    lines += ["| object | change |", "|---|---|"]
    lines += [f"| {o['kind']} `{o['name']}` | {o['change']} |" for o in result["objects"]]
    runs = [h for h in result["hubs"] if h.get("helm")]
    lines += ["", f"**{len(runs)} of {len(result['hubs'])} touched hubs run helm.**", ""]
    for hub in result["hubs"]:
        status = "helm runs" if hub.get("helm") else "no helm run"
        lines.append(f"<details><summary><code>{hub['namespace']}/{hub['name']}</code>: {hub['change']}, "
                     f"{status}, {len(hub['valuesDiff'])} values changed</summary>")
        lines.append("")
        for cond in hub.get("conditions") or []:
            lines.append(f"- **{cond['type']} {cond['status']} {cond['reason']}**: {cond['message']}")
        if hub.get("estimate"):
            lines.append(f"- estimate: {_estimate_text(hub['estimate'])}")
        if hub["valuesDiff"]:
            lines += ["", "| path | before | after |", "|---|---|---|"]
            lines += [f"| `{d['path']}` | {_cell(d['before'])} | {_cell(d['after'])} |" for d in hub["valuesDiff"]]
        lines += ["", "</details>", ""]
    for rollout in result.get("rollouts") or []:
        lines.append(f"FleetRollout `{rollout['name']}` {rollout['change']}: {rollout['note']}.")
    return "\n".join(lines).rstrip() + "\n"


def _estimate_text(estimate: Mapping[str, Any]) -> str:
    def one(e: Mapping[str, Any] | None) -> str:
        return "none" if e is None else str(e.get("describe") or e)
    return f"{one(estimate.get('before'))} -> {one(estimate.get('after'))}"


def _cell(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value)
    return "`" + text.replace("|", "\\|").replace("`", "'").replace("\n", " ") + "`"


def hubs_table(result: Mapping[str, Any]) -> list[Sequence[str]]:
    return [(f"{h['namespace']}/{h['name']}", h["change"], "yes" if h.get("helm") else "no",
             str(len(h["valuesDiff"])), "; ".join(f"{c['type']} {c['reason']}" for c in h.get("conditions") or [])
             or "-") for h in result["hubs"]]


