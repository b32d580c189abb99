"""Staged rollouts, decided (pure): which hubs a FleetRollout starts now, and what its status says.

A rollout reaches a hub by a label on the CommunityHub (``hubs.2i2c.org/rollout: <rollout>``); the hub's
own pass then deploys the rollout's target, and records it in ``status.release.rollout`` once helm
deployed it. A hub is *done* when it is Ready on the target (its post-deploy health check included),
*failed* when it carries the label and a step turned False. The waves go in order: a wave starts only
when every hub of the waves before it is done, and at most ``maxPerCluster`` hubs of one cluster are in
flight at once. One failed hub halts the rollout: nothing more is started, later waves stay untouched,
and the status names the hub. Only the newest rollout acts: an older one says it is Superseded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from communityhub.api.conditions import SCALED_DOWN, WAITING_FOR_WINDOW, Verdict
from communityhub.api.models import GROUP, FleetRolloutSpec

#: On a CommunityHub: the rollout whose target it runs; and the one it ran before (a rollback restores it).
ROLLOUT_LABEL = f"{GROUP}/rollout"
PREVIOUS_ANNOTATION = f"{GROUP}/previous-rollout"
#: A hub a guard holds (scaled down, before its window) is not waited for: it gets the target when it returns.
PARKED = frozenset({SCALED_DOWN, WAITING_FOR_WINDOW})


@dataclasses.dataclass(frozen=True)
class HubView:
    """What a rollout needs to know of one hub (kept by a Kopf index of every CommunityHub)."""

    key: str  # namespace/name
    labels: Mapping[str, str]
    cluster: str
    ready: bool  # Ready True, for the hub's current generation
    failed: bool  # a step False
    reason: str  # Ready's reason
    release_rollout: str | None  # status.release.rollout: the rollout whose target helm last deployed
    hub_class: str | None = None  # status.hubClass.name: the HubClass its release comes from

    @property
    def rollout(self) -> str | None:
        return self.labels.get(ROLLOUT_LABEL)


def hub_view(body: Mapping[str, Any]) -> HubView:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    current = status.get("observedGeneration") == meta.get("generation")
    return HubView(
        key=f"{meta.get('namespace')}/{meta.get('name')}", labels=dict(meta.get("labels") or {}),
        cluster=str((status.get("cluster") or {}).get("name") or "-"),
        ready=current and ready.get("status") == "True", failed=current and ready.get("status") == "False",
        reason=str(ready.get("reason") or ""), release_rollout=(status.get("release") or {}).get("rollout"),
        hub_class=(status.get("hubClass") or {}).get("name"))


@dataclasses.dataclass
class Plan:
    admit: list[str]
    phase: str
    wave: str | None
    waves: list[dict[str, Any]]
    verdict: Verdict

    @property
    def progress(self) -> str:
        return f"{sum(w['done'] for w in self.waves)}/{sum(w['total'] for w in self.waves)}"

    def status(self) -> dict[str, Any]:
        return {"phase": self.phase, "wave": self.wave, "progress": self.progress, "waves": self.waves}


def assign(spec: FleetRolloutSpec, hubs: Iterable[HubView]) -> list[list[HubView]]:
    """The hubs of each wave: a hub is in the first wave whose labels it carries; others are not touched."""
    members: list[list[HubView]] = [[] for _ in spec.waves]
    for hub in sorted(hubs, key=lambda h: h.key):
        for index, wave in enumerate(spec.waves):
            if all(hub.labels.get(k) == v for k, v in wave.match_labels.items()):
                members[index].append(hub)
                break
    return members


#: A rollout in these phases no longer holds a class change back from the hubs it did not reach.
SETTLED = frozenset({"Complete", "Superseded"})


def holding_class(hub_class: str | None, rollouts: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The rollout that brings changes of ``hub_class`` to its hubs wave by wave, if one is active (the newest
    of those that target the class and are neither complete, superseded nor being deleted)."""
    if hub_class is None:
        return None
    active = {name: r for name, r in rollouts.items()
              if (r.get("target") or {}).get("hubClass") == hub_class and not r.get("deleting")
              and r.get("phase") not in SETTLED}
    return newest(active)


def plan(name: str, spec: FleetRolloutSpec, hubs: Sequence[HubView], superseded_by: str | None = None) -> Plan:
    if spec.target.hub_class is not None:  # a class's rollout reaches only that class's hubs
        hubs = [h for h in hubs if h.hub_class == spec.target.hub_class]
    members = assign(spec, hubs)

    def done(hub: HubView) -> bool:
        return (hub.ready and hub.release_rollout == name) or (hub.rollout == name and hub.reason in PARKED)

    def failed(hub: HubView) -> bool:
        return hub.rollout == name and hub.failed and not done(hub)

    waves = [{"name": wave.name, "total": len(group), "done": sum(map(done, group)),
              "inFlight": sum(1 for h in group if h.rollout == name and not done(h) and not failed(h)),
              "failed": [h.key for h in group if failed(h)]}
             for wave, group in zip(spec.waves, members, strict=True)]
    current = next((i for i, w in enumerate(waves) if w["done"] < w["total"]), None)
    if superseded_by:
        return Plan([], "Superseded", None, waves, Verdict.false(
            "Superseded", f"the newer rollout {superseded_by} acts on these hubs now; this one's target stays on "
                          f"the hubs that carry its label until that rollout reaches them"))
    broken = [(w["name"], key) for w in waves for key in w["failed"]]
    if broken:
        by_key = {h.key: h for group in members for h in group}
        named = ", ".join(f"{key} ({by_key[key].reason})" for _, key in broken)
        return Plan([], "Halted", broken[0][0], waves, Verdict.false(
            "HubsFailed", f"halted in wave {broken[0][0]}: {named} failed on the target; later waves are untouched. "
                          f"Fix and the rollout goes on, or roll back: kubectl delete fleetrollout {name}"))
    if current is None:
        return Plan([], "Complete", waves[-1]["name"] if waves else None, waves, Verdict.true(
            "RolloutComplete", f"every hub of the {len(waves)} wave(s) is Ready on the target"))
    wave = waves[current]
    if spec.paused:
        return Plan([], "Paused", wave["name"], waves, Verdict.unknown(
            "Paused", f"paused in wave {wave['name']} ({wave['done']}/{wave['total']} done): "
                      f"kubectl patch fleetrollout {name} --type merge -p '{{\"spec\":{{\"paused\":false}}}}'"))
    busy: dict[str, int] = {}
    for hub in members[current]:
        if hub.rollout == name and not done(hub):
            busy[hub.cluster] = busy.get(hub.cluster, 0) + 1
    admit = []
    for hub in members[current]:
        if hub.rollout != name and busy.get(hub.cluster, 0) < spec.max_per_cluster:
            admit.append(hub.key)
            busy[hub.cluster] = busy.get(hub.cluster, 0) + 1
    return Plan(admit, "Progressing", wave["name"], waves, Verdict.unknown(
        "RolloutInProgress", f"wave {wave['name']}: {wave['done']}/{wave['total']} Ready on the target, "
                             f"{wave['inFlight'] + len(admit)} in flight (at most {spec.max_per_cluster} per "
                             f"cluster)"))


def reaches(rollout: Mapping[str, Any], labels: Mapping[str, str], hub_class: str | None) -> bool:
    """Whether a rollout (its index entry: target and waves' labels) may reach a hub with these labels and class:
    a hub's rollout label is only believed when the rollout's waves select the hub and its class is the target's
    (the label alone would let whoever can set it load any rollout's values)."""
    target_class = (rollout.get("target") or {}).get("hubClass")
    if target_class is not None and target_class != hub_class:
        return False
    return any(all(labels.get(k) == v for k, v in wave.items()) for wave in rollout.get("waves") or [])


def newest(rollouts: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The rollout that acts: the newest by creation (name breaks ties)."""
    live = [(str(r.get("created") or ""), name) for name, r in rollouts.items() if not r.get("deleting")]
    return max(live)[1] if live else None
