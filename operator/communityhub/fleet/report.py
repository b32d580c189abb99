"""What ``hubctl guards`` lists (pure): the hubs past contract, idle, over budget or closed, from the guard
conditions the operator wrote."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from communityhub.fleet.lifecycle import GUARD_CONDITIONS

#: What each guard's reasons mean for a person reading the list.
ATTENTION = {
    "BudgetExceeded": "over budget", "BudgetNearlySpent": "budget 90 % spent", "BudgetHalfSpent": "budget half spent",
    "ContractEndingSoon": "contract ending", "ContractEnded": "past contract (in grace)",
    "ContractEndedScaledDown": "past contract (scaled down)", "NoActiveUsers": "idle",
    "WindowEnded": "window over (scaled down)",
}


def rows(hubs: Iterable[Mapping[str, Any]], everything: bool = False) -> list[dict[str, str]]:
    """A row per guard condition that needs a person's attention (with ``everything``: per guard condition)."""
    out = []
    for obj in hubs:
        meta = obj.get("metadata") or {}
        hub = f"{meta.get('namespace')}/{meta.get('name')}"
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") not in GUARD_CONDITIONS:
                continue
            reason = str(cond.get("reason", ""))
            if not everything and reason not in ATTENTION:
                continue
            out.append({"hub": hub, "guard": str(cond["type"]), "status": str(cond.get("status", "")),
                        "reason": reason, "attention": ATTENTION.get(reason, ""),
                        "since": str(cond.get("lastTransitionTime", "")), "message": str(cond.get("message", ""))})
    return sorted(out, key=lambda r: (r["hub"], r["guard"]))


HOMES_FIELDS = ["hub", "homes", "usedGiB", "overQuota", "nearQuota", "diskUsed", "storage", "message"]


def homes_rows(hubs: Iterable[Mapping[str, Any]], everything: bool = False) -> list[dict[str, Any]]:
    """What ``hubctl homes`` lists: hubs with a home server whose users are at or near their quota, or whose disk
    is nearly full (with ``everything``: every hub with a home server), from status.homes and HomeStorage."""
    out = []
    for obj in hubs:
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        homes = status.get("homes")
        if not homes:
            continue
        used = homes.get("usage") or {}
        storage = next((c for c in status.get("conditions") or [] if c.get("type") == "HomeStorage"), {})
        size, free = used.get("diskSizeBytes"), used.get("diskFreeBytes")
        row = {"hub": f"{meta.get('namespace')}/{meta.get('name')}", "homes": used.get("homes"),
               "usedGiB": round(used.get("usedBytes", 0) / 2**30, 1) if used else None,
               "overQuota": list(used.get("overQuota") or []), "nearQuota": list(used.get("nearQuota") or []),
               "diskUsed": f"{1 - free / size:.0%}" if size and free is not None else "",
               "storage": f"{storage.get('status', 'Unknown')} {storage.get('reason', '')}".strip(),
               "message": str(storage.get("message", ""))}
        if everything or row["overQuota"] or row["nearQuota"] or storage.get("status") == "False":
            out.append(row)
    return sorted(out, key=lambda r: r["hub"])
