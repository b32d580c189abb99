"""Staged rollouts, carried out: label the hubs the plan starts, write the FleetRollout's status, and roll
back on delete (every hub it reached gets the rollout it ran before, or none: the operator's defaults).

The hubs come from a Kopf index of every CommunityHub (no list per pass); the hubs' own passes do the
deploying, so the per-hub locks, helm's bounded concurrency and the post-deploy health check all hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource
from lightkube.types import PatchType

from communityhub.adapters import kube
from communityhub.api import conditions, models
from communityhub.fleet.rollout_plan import PREVIOUS_ANNOTATION, ROLLOUT_LABEL, Plan, hub_view, newest, plan
from communityhub.steps.context import first

ROLLOUT = create_global_resource(models.GROUP, models.VERSION, models.ROLLOUT_KIND, models.ROLLOUT_PLURAL)


def index_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the rollouts keep of a hub."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return {"view": hub_view(body), "previous": annotations.get(PREVIOUS_ANNOTATION)}


def rollout_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the hubs and the other rollouts keep of a rollout: its target, and its age."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    return {"target": dict(spec.get("target") or {}), "created": meta.get("creationTimestamp"),
            "waves": [dict(w.get("matchLabels") or {}) for w in spec.get("waves") or []],
            "deleting": bool(meta.get("deletionTimestamp")), "phase": (body.get("status") or {}).get("phase")}


async def label(client: AsyncClient, key: str, rollout: str | None, previous: str | None) -> None:
    namespace, name = key.split("/", 1)
    await client.patch(kube.HUB, name, {"metadata": {"labels": {ROLLOUT_LABEL: rollout},
                                                     "annotations": {PREVIOUS_ANNOTATION: previous}}},
                       namespace=namespace, patch_type=PatchType.MERGE)


async def advance(client: AsyncClient, name: str, body: Mapping[str, Any], hubs: Mapping[Any, Any],
                  rollouts: Mapping[Any, Any]) -> tuple[Plan, dict[str, Any], list[str]]:
    """Start what the plan says; the status fields that change, and the hubs started."""
    spec = models.FleetRolloutSpec.model_validate(body["spec"])
    top = newest(first(rollouts))
    entries = first(hubs)
    decided = plan(name, spec, [e["view"] for e in entries.values()], top if top and top != name else None)
    started = []
    by_key = {e["view"].key: e for e in entries.values()}
    for key in decided.admit:
        entry = by_key[key]
        try:
            await label(client, key, name, entry["view"].rollout)
        except ApiError as err:
            if kube.is_not_found(err):
                continue  # deleted meanwhile
            raise
        started.append(key)
    old = dict(body.get("status") or {})
    generation = (body.get("metadata") or {}).get("generation")
    summary = decided.verdict
    wanted = {**decided.status(), "observedGeneration": generation,
              "conditions": conditions.apply(old.get("conditions") or [],
                                             {conditions.READY: summary, **conditions.kstatus(summary)},
                                             generation=generation, now=conditions.now_rfc3339())}
    changed = {k: v for k, v in wanted.items() if old.get(k) != v}
    if changed:
        await client.patch(ROLLOUT.Status, name, {"status": changed}, patch_type=PatchType.MERGE)
    return decided, changed, started


async def roll_back(client: AsyncClient, name: str, hubs: Mapping[Any, Any]) -> list[str]:
    """Every hub this rollout reached goes back to the rollout it ran before (or to none)."""
    back = []
    for entry in first(hubs).values():
        view = entry["view"]
        if view.rollout != name:
            continue
        previous = entry["previous"] or None
        try:
            await label(client, view.key, previous if previous != name else None, None)
        except ApiError as err:
            if not kube.is_not_found(err):
                raise
        back.append(view.key)
    return back
