"""Pure condition bookkeeping, after the Kubernetes API conventions.

A step's decision is a :class:`Verdict` (status, reason, message), as cert-manager's policy
functions return. :func:`apply` folds verdicts into a condition list: ``lastTransitionTime``
moves only when the status changes, so re-deciding the same thing changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

CLUSTER_READY = "ClusterReady"
HUB_READY = "HubReady"
SSO_READY = "SSOReady"
ENVIRONMENT_READY = "EnvironmentReady"
READY = "Ready"
DELIVERED = "Delivered"

#: HubReady's reason while a guard keeps the hub scaled down (its data kept), and the steps' while a time-boxed
#: hub waits for its window.
SCALED_DOWN = "ScaledDown"
WAITING_FOR_WINDOW = "WaitingForWindow"

DASK_READY = "DaskReady"
#: A hub with spec.binder: its image builder (binderhub-service) is Available.
BINDER_READY = "BinderReady"
#: A user's server starts and runs code (the serving check, delivery/serving.py): where the hub has been checked.
SERVING_USERS = "ServingUsers"
#: What the hub namespace's quota leaves (shared clusters): informational, not a delivery step.
WITHIN_QUOTA = "WithinQuota"
#: How full the hub's home server's disk is, and its users against their quotas: informational, like WithinQuota.
HOME_STORAGE = "HomeStorage"

#: Delivery steps in the order of the delivery flow; Ready summarises them.
STEP_CONDITIONS = (CLUSTER_READY, HUB_READY, SSO_READY, ENVIRONMENT_READY)
#: Steps only some hubs have (a daskhub's gateway, a builder): Ready summarises them where they are decided.
OPTIONAL_STEPS = (DASK_READY, BINDER_READY, SERVING_USERS)


def steps_of(verdicts: Mapping[str, Verdict]) -> tuple[str, ...]:
    return (*STEP_CONDITIONS, *(t for t in OPTIONAL_STEPS if t in verdicts))

#: The phase shown while a step is the first one not yet True.
_PHASE_OF_STEP = {
    CLUSTER_READY: "ProvisioningCluster",
    HUB_READY: "DeployingHub",
    SSO_READY: "ConfiguringSSO",
    ENVIRONMENT_READY: "ConfiguringEnvironment",
    DASK_READY: "ConfiguringEnvironment",
    BINDER_READY: "ConfiguringEnvironment",
    SERVING_USERS: "DeployingHub",
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    message: str = ""

    @classmethod
    def true(cls, reason: str, message: str = "") -> Verdict:
        return cls("True", reason, message)

    @classmethod
    def false(cls, reason: str, message: str = "") -> Verdict:
        return cls("False", reason, message)

    @classmethod
    def unknown(cls, reason: str, message: str = "") -> Verdict:
        return cls("Unknown", reason, message)

    @property
    def ok(self) -> bool:
        return self.status == "True"


def rfc3339(when: dt.datetime) -> str:
    """``2026-11-23T10:00:00Z``: UTC, whole seconds."""
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(dt.datetime.now(dt.UTC))


def find(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def apply(
    conditions: Iterable[Mapping[str, Any]],
    verdicts: Mapping[str, Verdict],
    *,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """Return the condition list with ``verdicts`` set, others kept, in a stable order."""
    by_type = {c["type"]: dict(c) for c in conditions}
    for type_, verdict in verdicts.items():
        old = by_type.get(type_)
        changed = old is None or old.get("status") != verdict.status
        by_type[type_] = {
            "type": type_,
            "status": verdict.status,
            "reason": verdict.reason,
            "message": verdict.message,
            "lastTransitionTime": now if changed else old["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    order = {t: i for i, t in enumerate((*STEP_CONDITIONS, *OPTIONAL_STEPS, READY, DELIVERED))}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


#: kstatus's conditions (what Flux, kpt and `kubectl wait` read besides Ready): abnormal-true, so True only
#: while the hub is being worked on, or while it is stuck on something only a person can fix.
RECONCILING = "Reconciling"
STALLED = "Stalled"


def kstatus(summary: Verdict) -> dict[str, Verdict]:
    """Reconciling and Stalled from the Ready summary: Reconciling while a step is still on its way (Unknown),
    Stalled while one is False; both False once Ready."""
    working, stuck = summary.status == "Unknown", summary.status == "False"
    return {
        RECONCILING: Verdict("True", summary.reason, summary.message) if working
        else Verdict("False", "NotReconciling", "no step is in progress"),
        STALLED: Verdict("True", summary.reason, summary.message) if stuck
        else Verdict("False", "NotStalled", "no step failed"),
    }


def summarize(verdicts: Mapping[str, Verdict]) -> Verdict:
    """Ready: True when every step is True; else False with the first failed step's reason (a step that
    waits on a failed one is not the news), else Unknown with the first step still in progress."""
    for type_ in STEP_CONDITIONS:
        if type_ not in verdicts:
            return Verdict.unknown("Pending", f"{type_} has not been evaluated yet")
    steps = steps_of(verdicts)
    failed = [t for t in steps if verdicts[t].status == "False"]
    pending = [t for t in steps if not verdicts[t].ok]
    if not pending:
        return Verdict.true("HubAvailable", "every delivery step is done; the hub is serving")
    first = (failed or pending)[0]
    verdict = verdicts[first]
    return Verdict("False" if failed else "Unknown", verdict.reason, f"{first}: {verdict.message}")


def phase(verdicts: Mapping[str, Verdict], was_ready: bool) -> str:
    """The human summary: the step in progress, Available, or Degraded after having been ready; Scheduled and
    ScaledDown while a guard holds the hub."""
    reasons = {v.reason for t, v in verdicts.items() if t in steps_of(verdicts)}
    if WAITING_FOR_WINDOW in reasons:
        return "Scheduled"
    if SCALED_DOWN in reasons:
        return "ScaledDown"
    for type_ in steps_of(verdicts):
        verdict = verdicts.get(type_)
        if verdict is None or not verdict.ok:
            return "Degraded" if was_ready else _PHASE_OF_STEP[type_]
    return "Available"


def changed(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> bool:
    return [dict(c) for c in old] != [dict(c) for c in new]
