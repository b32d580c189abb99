"""Prices and invoices (pure): what the operator writes for billing, and what ``hubctl`` makes of it.

Prices of the first offering, per hub per month: education $1000 shared / $1500 dedicated, research
$1500 / $2250, partnership a custom fee (``spec.billing.monthlyFeeUSD``, which also overrides the
table for other archetypes). Cloud cost is passed on only where the provider pays the cloud bill:
shared hubs, and dedicated hubs on the provider's account - never on the customer's own.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from communityhub.api import annotations as ann
from communityhub.api.conditions import rfc3339
from communityhub.api.models import CommunityHubSpec
from communityhub.money import cost

PRICE_TABLE: dict[str, dict[str, float]] = {
    "education": {"shared": 1000.0, "dedicated": 1500.0},
    "research": {"shared": 1500.0, "dedicated": 2250.0},
}


def plan(spec: CommunityHubSpec) -> str:
    if spec.community.archetype == "partnership":
        return "partnership-custom"
    return f"{spec.community.archetype}-{spec.placement.type}"


def monthly_fee(spec: CommunityHubSpec) -> float:
    if spec.billing.monthly_fee_usd is not None:
        return spec.billing.monthly_fee_usd
    if spec.community.archetype == "partnership":  # the CRD requires the fee; keep the reader honest anyway
        raise ValueError("partnership hubs need billing.monthlyFeeUSD")
    return PRICE_TABLE[spec.community.archetype][spec.placement.type]


def cloud_cost_passthrough(spec: CommunityHubSpec) -> bool:
    placement = spec.placement
    return placement.type == "shared" or (placement.dedicated is not None and placement.dedicated.account == "provider")


def billing_annotations(spec: CommunityHubSpec) -> dict[str, str | None]:
    """What the operator writes from the spec (it changes only when the spec does); None removes one."""
    window = spec.lifecycle.window
    return {
        ann.BILLING_PLAN: plan(spec),
        ann.BILLING_MONTHLY_FEE: ann.usd(monthly_fee(spec)),
        ann.BILLING_SETUP_FEE: ann.usd(spec.billing.setup_fee_usd),
        ann.BILLING_PASSTHROUGH: "true" if cloud_cost_passthrough(spec) else "false",
        ann.BILLING_WINDOW_START: rfc3339(window.start) if window else None,
        ann.BILLING_WINDOW_END: rfc3339(window.end) if window else None,
    }


# ---------------------------------------------------------------------------------------- invoices
@dataclasses.dataclass(frozen=True)
class Line:
    hub: str
    community: str
    cost_center: str
    invoice: str  # setup | monthly
    item: str  # setup-fee | monthly-fee | cloud-cost
    amount_usd: float
    note: str = ""
    #: The amount is not known yet (the hub was not metered for the month, or its figure is unreadable): the
    #: line is on the invoice at 0 with the reason in its note, and billed once the figure is there.
    pending: bool = False


@dataclasses.dataclass
class Invoices:
    month: str
    lines: list[Line] = dataclasses.field(default_factory=list)
    errors: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {hub, error}
    not_billed: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {hub, reason}

    def total(self, invoice: str | None = None) -> float:
        return round(sum(line.amount_usd for line in self.lines if invoice in (None, line.invoice)), 2)

    @property
    def pending(self) -> list[Line]:
        return [line for line in self.lines if line.pending]

    def to_json(self) -> dict[str, Any]:
        return {"month": self.month, "lines": [dataclasses.asdict(line) for line in self.lines],
                "totals": {"setup": self.total("setup"), "monthly": self.total("monthly"), "all": self.total()},
                "pending": [{"hub": line.hub, "item": line.item, "reason": line.note} for line in self.pending],
                "errors": self.errors, "notBilled": self.not_billed}


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime, int]:
    """Start (inclusive), end (exclusive) and number of days of a month YYYY-MM, in UTC."""
    if not ann.MONTH.match(month):
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = int(month[:4]), int(month[5:])
    days = calendar.monthrange(year, number)[1]
    start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=days), days


def previous_month(month: str) -> str:
    start, _, _ = month_bounds(month)
    return (start - dt.timedelta(days=1)).strftime("%Y-%m")


def cloud_cost_for(annotations: Mapping[str, str], month: str) -> float:
    """The hub's cloud cost of ``month``: month-to-date when it is the month the figures are for, else the
    closed figure of the month before; anything else is an error (not a zero)."""
    recorded = ann.read_month(annotations, ann.COST_MONTH)
    if recorded == month:
        return ann.read_usd(annotations, ann.COST_MONTH_TO_DATE)
    if previous_month(recorded) == month:
        return ann.read_usd(annotations, ann.COST_PREVIOUS_MONTH)
    raise ann.AnnotationError(f"no cloud cost recorded for {month} ({ann.COST_MONTH} is {recorded})")


#: How an invoice names each part of a cloud cost.
PART_NAMES = {"compute": "compute (CPU and memory)", "gpu": "GPUs", "volumes": "volumes (homes, databases, shares)",
              "buckets": "buckets"}


def cloud_parts_for(annotations: Mapping[str, str], month: str) -> dict[str, float]:
    """What the hub's cloud cost of ``month`` is made of (empty where it was not recorded by part)."""
    recorded = ann.read_month(annotations, ann.COST_MONTH)
    key = ann.COST_PARTS_MONTH_TO_DATE if recorded == month else ann.COST_PARTS_PREVIOUS_MONTH
    try:
        return ann.read_parts(annotations, key)
    except ann.AnnotationError:
        return {}


def describe_parts(parts: Mapping[str, float]) -> str:
    known = [p for p in (*cost.PARTS, *sorted(set(parts) - set(cost.PARTS))) if parts.get(p)]
    return ", ".join(f"{PART_NAMES.get(p, p)} ${parts[p]:.2f}" for p in known)


def window_days(opens: dt.datetime, closes: dt.datetime, start: dt.datetime, end: dt.datetime) -> int:
    """The calendar days (UTC) of the month [start, end) that a window [opens, closes) touches."""
    lo, hi = max(opens, start), min(closes, end)
    if hi <= lo:
        return 0
    return (hi - dt.timedelta(microseconds=1)).date().toordinal() - lo.date().toordinal() + 1


def hub_lines(hub: str, community: str, cost_center: str, annotations: Mapping[str, str], month: str) -> list[Line]:
    """The invoice lines of one hub for one month. A missing or bad cloud cost makes that line pending (the fees
    are billed all the same); a missing or bad fee or delivery time raises AnnotationError."""
    start, end, days = month_bounds(month)
    delivered = ann.read_time(annotations, ann.DELIVERED_AT)
    if delivered >= end:
        return []
    fee = ann.read_usd(annotations, ann.BILLING_MONTHLY_FEE)
    passthrough = ann.read_bool(annotations, ann.BILLING_PASSTHROUGH)
    plan_name = annotations.get(ann.BILLING_PLAN) or "unknown plan"
    lines = []
    if start <= delivered:
        setup = ann.read_usd(annotations, ann.BILLING_SETUP_FEE)
        lines.append(Line(hub, community, cost_center, "setup", "setup-fee", setup,
                          f"delivered {delivered.date().isoformat()}"))
    if annotations.get(ann.BILLING_WINDOW_START) or annotations.get(ann.BILLING_WINDOW_END):
        opens, closes = ann.read_time(annotations, ann.BILLING_WINDOW_START), \
            ann.read_time(annotations, ann.BILLING_WINDOW_END)
        billed_days = window_days(opens, closes, start, end)
        span = f"{opens.date().isoformat()} to {closes.date().isoformat()}"
        if billed_days:
            lines.append(Line(hub, community, cost_center, "monthly", "monthly-fee",
                              round(fee * billed_days / days, 2),
                              f"{plan_name}; time-boxed: {billed_days} of {days} days, its window {span}"))
    elif start <= delivered:
        billed_days = days - (delivered.date() - start.date()).days
        lines.append(Line(hub, community, cost_center, "monthly", "monthly-fee", round(fee * billed_days / days, 2),
                          f"{plan_name}; prorated: {billed_days} of {days} days from delivery on "
                          f"{delivered.date().isoformat()}"))
    else:
        lines.append(Line(hub, community, cost_center, "monthly", "monthly-fee", fee, plan_name))
    if passthrough:
        try:
            cost = round(cloud_cost_for(annotations, month), 2)
        except ann.AnnotationError as err:
            lines.append(Line(hub, community, cost_center, "monthly", "cloud-cost", 0.0,
                              f"pending: {err}", pending=True))
        else:
            parts = describe_parts(cloud_parts_for(annotations, month))
            lines.append(Line(hub, community, cost_center, "monthly", "cloud-cost", cost,
                              "cloud cost passed through (provider pays the cloud bill)"
                              + (f": {parts}" if parts else "")))
    return lines


def invoices(hubs: Iterable[Mapping[str, Any]], month: str) -> Invoices:
    """Invoices for every CommunityHub object: a hub whose fee cannot be read is listed in ``errors``, one whose
    cloud cost is not there yet gets a pending line; every other hub is billed regardless."""
    out = Invoices(month)
    month_bounds(month)
    for obj in sorted(hubs, key=lambda h: (h["metadata"].get("namespace", ""), h["metadata"]["name"])):
        meta = obj["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        annotations = meta.get("annotations") or {}
        spec = obj.get("spec") or {}
        community = str((spec.get("community") or {}).get("displayName", ""))
        cost_center = str((spec.get("billing") or {}).get("costCenter") or "")
        if not annotations.get(ann.DELIVERED_AT):
            out.not_billed.append({"hub": key, "reason": "not delivered yet (no delivered-at)"})
            continue
        try:
            lines = hub_lines(key, community, cost_center, annotations, month)
        except ann.AnnotationError as err:
            out.errors.append({"hub": key, "error": str(err)})
            continue
        if not lines:
            out.not_billed.append({"hub": key, "reason": f"delivered after {month}"})
        out.lines.extend(lines)
    return out


# -------------------------------------------------------------------------------------------- KPIs
def kpis(hubs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Network figures: communities served, historically marginalized ones, active users (summed over hubs:
    a person active on two hubs counts twice)."""
    rows, errors = [], []
    communities, marginalized = set(), set()
    for obj in hubs:
        meta = obj["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        community = (obj.get("spec") or {}).get("community") or {}
        name = str(community.get("displayName", key))
        communities.add(name)
        if community.get("historicallyMarginalized"):
            marginalized.add(name)
        annotations = meta.get("annotations") or {}
        try:
            wau, mau = ann.read_count(annotations, ann.USAGE_WAU), ann.read_count(annotations, ann.USAGE_MAU)
            observed = annotations[ann.USAGE_OBSERVED_AT]
        except (ann.AnnotationError, KeyError) as err:
            errors.append({"hub": key, "error": str(err)})
            continue
        rows.append({"hub": key, "community": name, "weeklyActiveUsers": wau, "monthlyActiveUsers": mau,
                     "observedAt": observed})
    return {
        "communities": len(communities),
        "historicallyMarginalizedCommunities": len(marginalized),
        "weeklyActiveUsers": sum(r["weeklyActiveUsers"] for r in rows),
        "monthlyActiveUsers": sum(r["monthlyActiveUsers"] for r in rows),
        "hubs": sorted(rows, key=lambda r: r["hub"]),
        "errors": errors,
    }


NO_GROUP = "(no group)"


def _cents(value: float) -> int:
    return round(value * 100)


def user_costs(ledger: Mapping[str, Any], owner: str, month: str, by: str = "user") -> dict[str, Any]:
    """A hub's cloud cost of ``month`` split between its users (``by="group"``: its groups) and its overhead,
    from the cluster's ledger (the month in progress, or the one before it).

    A user's cost is what their servers and home claims took (cost.part_rates). By group, a user in several
    groups is split equally between them, and a user in none counts under NO_GROUP, so the rows and the overhead
    add up to the hub's cost to the cent: rows are rounded to cents, and the overhead is what is left."""
    months = [ledger, ledger.get("previous") or {}]
    found = next((m for m in months if m.get("month") == month), None)
    if found is None:
        kept = ", ".join(str(m["month"]) for m in months if m.get("month"))
        raise ValueError(f"the ledger keeps {kept or 'no month'}, not {month}")
    dropped = [d for d in ledger.get("usersDropped") or []
               if d.startswith("previous.") == (found is not ledger)
               and (d.endswith("users") or (by == "group" and d.endswith("userGroups")))]
    if dropped:
        raise ValueError(f"the ledger of {month} gave up its per-user detail to stay within a ConfigMap's size "
                         f"(too many users on the cluster): only the hubs' totals are kept")
    hub_cents = _cents((found.get("owners") or {}).get(owner, 0.0))
    users = (found.get("users") or {}).get(owner) or {}
    if by == "group":
        groups = (found.get("userGroups") or {}).get(owner) or {}
        split: dict[str, float] = {}
        for user, usd in users.items():
            theirs = groups.get(user) or [NO_GROUP]
            for group in theirs:
                split[group] = split.get(group, 0.0) + usd / len(theirs)
        rows = [{"group": g, "usd": _cents(v) / 100} for g, v in sorted(split.items())]
    else:
        rows = [{"user": u, "usd": _cents(v) / 100} for u, v in sorted(users.items())]
    overhead = hub_cents - sum(_cents(r["usd"]) for r in rows)
    return {"month": month, "hub": owner, "by": by, "rows": rows, "overheadUSD": overhead / 100,
            "hubUSD": hub_cents / 100}
