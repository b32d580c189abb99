"""Active users from a hub's own REST API (pure).

A user is active in a window when one of their servers (stopped ones included: the API is asked
for them) was started or showed activity within it: logging in without starting a server does not
count. Weekly active users: the last 7 days; monthly: the last 30, both as of the time of the read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

WEEK = dt.timedelta(days=7)
MONTH = dt.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class Usage:
    weekly_active: int
    monthly_active: int
    users: int
    observed_at: dt.datetime
    #: The latest start or activity of any user's server; None: no user ever started one.
    last_activity: dt.datetime | None = None


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def last_server_activity(user: Mapping[str, Any]) -> dt.datetime | None:
    """The latest start or activity of any of the user's servers, or None (never started one)."""
    times = [t for server in (user.get("servers") or {}).values()
             for t in (_time(server.get("started")), _time(server.get("last_activity"))) if t is not None]
    return max(times, default=None)


def active_users(users: Iterable[Mapping[str, Any]], as_of: dt.datetime) -> Usage:
    weekly = monthly = total = 0
    latest: dt.datetime | None = None
    for user in users:
        if user.get("kind", "user") != "user":
            continue
        total += 1
        last = last_server_activity(user)
        if last is None:
            continue
        latest = max(latest, last) if latest else last
        weekly += last >= as_of - WEEK
        monthly += last >= as_of - MONTH
    return Usage(weekly, monthly, total, as_of, latest)


def groups_of(users: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each user's groups as the hub's API lists them (for the cost split by group)."""
    return {str(u["name"]): sorted(str(g) for g in u.get("groups") or []) for u in users
            if u.get("kind", "user") == "user" and u.get("name")}
