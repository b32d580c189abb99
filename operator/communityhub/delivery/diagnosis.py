"""Pure: why a hub's rollout is not done, from what the cluster says about its Pods and claims.

The cause is what a human would look for with ``kubectl describe``: a claim that is not bound, a
Pod the scheduler cannot place (and the scheduler's own words), an image that cannot be pulled, a
container that crash-loops. The hub step puts it in HubReady's message while it waits, and uses its
reason when the rollout deadline passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CRASHING = ("CrashLoopBackOff", "RunContainerError", "CreateContainerConfigError", "CreateContainerError")


@dataclasses.dataclass(frozen=True)
class Cause:
    reason: str  # CamelCase, the condition's reason once the deadline has passed
    message: str


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == type_), None)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def claim_cause(claims: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]) -> Cause | None:
    """A PersistentVolumeClaim that is not Bound, with the latest event about it."""
    for claim in claims:
        phase = claim.get("status", {}).get("phase", "Pending")
        if phase == "Bound":
            continue
        name = _name(claim)
        about = [e for e in events if e.get("involvedObject", {}).get("name") == name]
        latest = max(about, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", default=None)
        detail = f": {_one_line(latest['message'])}" if latest and latest.get("message") else ""
        return Cause("VolumeClaimPending", f"PersistentVolumeClaim {name} is {phase}{detail}")
    return None


def pod_cause(pod: Mapping[str, Any]) -> Cause | None:
    name = _name(pod)
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        why = _one_line(scheduled.get("message") or scheduled.get("reason") or "no reason given")
        return Cause("PodUnschedulable", f"Pod {name} cannot be scheduled: {why}")
    status = pod.get("status", {})
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        detail = _one_line(waiting.get("message") or "")
        if reason in PULL_FAILURES:
            image = container.get("image", "?")
            return Cause("ImagePullFailed", f"Pod {name} cannot pull image {image} ({reason})"
                                            + (f": {detail}" if detail else ""))
        if reason in CRASHING:
            last = (container.get("lastState") or {}).get("terminated") or {}
            exit_info = f", last exit code {last['exitCode']}" if "exitCode" in last else ""
            restarts = container.get("restartCount", 0)
            return Cause("ContainerCrashLooping",
                         f"container {container.get('name')} of Pod {name} is in {reason} "
                         f"({restarts} restarts{exit_info})" + (f": {detail}" if detail else ""))
    return None


def rollout_cause(pods: Iterable[Mapping[str, Any]], claims: Iterable[Mapping[str, Any]],
                  events: Iterable[Mapping[str, Any]] = ()) -> Cause | None:
    """The first thing that stops the rollout: claims first (a Pod waits for them), then Pods by name."""
    events = list(events)
    if cause := claim_cause(claims, events):
        return cause
    for pod in sorted(pods, key=_name):
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue  # an old replica on its way out
        if cause := pod_cause(pod):
            return cause
    return None
