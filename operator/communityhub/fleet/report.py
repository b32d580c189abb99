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
