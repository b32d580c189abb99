"""Money and lifecycle guards (pure): a monthly cloud budget, the contract's end, inactivity and a
time-boxed window, each decided from the spec, the hub's annotations and the time.

:func:`evaluate` returns a condition per guard the spec sets, what the delivery does about them
(hold the hub before its window, scale it down after its contract or window, refuse new user servers
over budget) and the notices due now. A notice has a key naming its occurrence (the 90 % notice of
2026-11, the reminder of a contract ending 2027-06-30): sent once per key (see
:mod:`communityhub.fleet.notices`), so a pass that decides the same thing again sends nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from communityhub.api import annotations as ann
from communityhub.api.conditions import SCALED_DOWN, WAITING_FOR_WINDOW, Verdict, rfc3339
from communityhub.api.models import CommunityHubSpec

WITHIN_BUDGET = "WithinBudget"
CONTRACT_ACTIVE = "ContractActive"
USERS_ACTIVE = "UsersActive"
IN_WINDOW = "InWindow"
#: Every guard condition: one the spec no longer asks for is removed from the status.
GUARD_CONDITIONS = (WITHIN_BUDGET, CONTRACT_ACTIVE, USERS_ACTIVE, IN_WINDOW)
#: Percentages of the budget that send a notice (each once a month).
THRESHOLDS = (50, 90, 100)
BUDGET_REASONS = {None: "UnderBudget", 50: "BudgetHalfSpent", 90: "BudgetNearlySpent", 100: "BudgetExceeded"}
DAY = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Notice:
    """An email about a guard, sent once per ``key``."""

    key: str
    subject: str
    text: str


@dataclasses.dataclass(frozen=True)
class Guards:
    verdicts: dict[str, Verdict]
    #: The hub is not delivered yet (a window that has not come): the reason, else None.
    hold: Verdict | None = None
    #: The hub is scaled down, its data kept: the reason, else None.
    scale_down: Verdict | None = None
    #: What users read when they start a server while the budget refuses new ones, else None.
    refuse_spawn: str | None = None
    notices: tuple[Notice, ...] = ()

    @property
    def removed(self) -> frozenset[str]:
        return frozenset(GUARD_CONDITIONS) - set(self.verdicts)


def month_of(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m")


def day(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).date().isoformat()


def budget(spec: CommunityHubSpec, annotations: Mapping[str, str], now: dt.datetime
           ) -> tuple[Verdict, Notice | None, str | None] | None:
    """WithinBudget from the month-to-date cloud cost; a notice at each threshold (each once a month); with
    ``enforce``, what users are told at 100 %. The figures of a closed month do not count: a new month starts
    at zero, which is what lifts the enforcement."""
    wanted = spec.billing.budget
    if wanted is None:
        return None
    month, limit = month_of(now), wanted.monthly_cloud_usd
    try:
        recorded = ann.read_month(annotations, ann.COST_MONTH)
        spent = ann.read_usd(annotations, ann.COST_MONTH_TO_DATE) if recorded == month else 0.0
    except ann.AnnotationError as err:
        return Verdict.unknown("CostNotMetered", f"the hub's cloud cost is not metered yet ({err}); budget "
                                                 f"{limit:.2f} USD a month"), None, None
    percent = 100 * spent / limit
    reached = max((t for t in THRESHOLDS if percent >= t), default=None)
    figures = f"{spent:.2f} of {limit:.2f} USD ({percent:.0f} %) of the cloud budget spent in {month}"
    refuse = None
    if reached == 100:
        if wanted.enforce:
            refuse = (f"This hub's cloud budget for {month} is spent: new servers cannot start until the month "
                      f"closes or the budget rises. Servers already running are not affected.")
            verdict = Verdict.false("BudgetExceeded", f"{figures}; new user servers are refused until the month "
                                                      f"closes or the budget rises (running ones are left alone)")
        else:
            verdict = Verdict.false("BudgetExceeded", f"{figures}; not enforced (billing.budget.enforce is false)")
    else:
        verdict = Verdict.true(BUDGET_REASONS[reached], figures)
    notice = None
    if reached is not None:
        what = "is spent" if reached == 100 else f"is {reached} % spent"
        consequence = ("New user servers cannot start until the month closes or the budget rises; servers "
                       "already running are not affected." if refuse else
                       "Nothing is stopped: the budget is watched, not enforced." if reached == 100 else
                       "Nothing changes for your users.")
        notice = Notice(f"budget-{reached}/{month}", f"Cloud budget for {month} {what}",
                        f"{figures}.\n\n{consequence}")
    return verdict, notice, refuse


def contract(spec: CommunityHubSpec, now: dt.datetime) -> tuple[Verdict, Verdict | None, Notice | None] | None:
    """ContractActive: in contract, ending soon (a reminder), ended (grace), then scaled down. The contract runs
    through its last day (UTC)."""
    lifecycle = spec.lifecycle
    if lifecycle.contract_end is None:
        return None
    last = lifecycle.contract_end.isoformat()
    ends = dt.datetime.combine(lifecycle.contract_end, dt.time(), dt.UTC) + DAY
    remind = ends - lifecycle.reminder_days * DAY
    scale = ends + lifecycle.grace_days * DAY
    renew = "move spec.lifecycle.contractEnd to renew"
    if now < remind:
        return Verdict.true("InContract", f"the contract runs through {last}"), None, None
    if now < ends:
        days = (ends - now).days
        return (Verdict.true("ContractEndingSoon", f"the contract ends after {last} ({days} days left); {renew}"),
                None, Notice(f"contract-reminder/{last}", f"Your hub's contract ends on {last}",
                             f"The contract of this hub runs through {last}, {days} days from now. After it "
                             f"ends the hub keeps running for {lifecycle.grace_days} days of grace, then it is "
                             f"scaled down: users can no longer log in, and their data is kept.\n\nTo renew, "
                             f"contact us before {last}."))
    if now < scale:
        return (Verdict.false("ContractEnded", f"the contract ended after {last}; the hub is scaled down on "
                                               f"{day(scale)} (its data kept) unless it is renewed: {renew}"),
                None, None)
    down = Verdict.false(SCALED_DOWN, f"the contract ended after {last} and its {lifecycle.grace_days} days of "
                                      f"grace are over: the hub is scaled down, its users' data kept, until "
                                      f"spec.lifecycle.contractEnd moves or the hub is deleted")
    return (Verdict.false("ContractEndedScaledDown", down.message), down,
            Notice(f"contract-scaled-down/{last}", "Your hub is scaled down: its contract ended",
                   f"The contract of this hub ended after {last}, and its {lifecycle.grace_days} days of grace "
                   f"are over. The hub is scaled down: users can no longer log in. Their home directories and "
                   f"the hub's database are kept.\n\nTo bring the hub back, renew the contract."))


def inactivity(spec: CommunityHubSpec, annotations: Mapping[str, str], now: dt.datetime
               ) -> tuple[Verdict, Notice | None] | None:
    """UsersActive: False, with one notice per idle stretch, once no user has started or used a server for
    ``inactiveDays`` (a newly delivered hub counts from its delivery)."""
    days = spec.lifecycle.inactive_days
    if days is None or not annotations.get(ann.DELIVERED_AT):
        return None
    try:
        delivered = ann.read_time(annotations, ann.DELIVERED_AT)
        ann.read_time(annotations, ann.USAGE_OBSERVED_AT)
    except ann.AnnotationError as err:
        return Verdict.unknown("UsageNotObserved", f"the hub's usage is not read yet ({err})"), None
    try:
        last = max(delivered, ann.read_time(annotations, ann.USAGE_LAST_ACTIVITY))
    except ann.AnnotationError:  # no user ever started a server
        last = delivered
    idle = now - last
    since = rfc3339(last)
    if idle < days * DAY:
        return Verdict.true("UsersActive", f"last user activity {since}; watched for {days} idle days"), None
    message = f"no user has started or used a server since {since} ({idle.days} days; the limit is {days})"
    return (Verdict.false("NoActiveUsers", message),
            Notice(f"inactive/{since}", "Nobody has used your hub lately",
                   f"{message[0].upper()}{message[1:]}.\n\nThe hub keeps running and costs what it did. If the "
                   f"community no longer needs it, tell us and we will decommission it, keeping its data."))


def window(spec: CommunityHubSpec, now: dt.datetime
           ) -> tuple[Verdict, Verdict | None, Verdict | None, Notice | None] | None:
    """InWindow, and (hold, scale-down): held until lead hours before the start, scaled down from the end."""
    wanted = spec.lifecycle.window
    if wanted is None:
        return None
    start, end = wanted.start.astimezone(dt.UTC), wanted.end.astimezone(dt.UTC)
    deliver_from = start - dt.timedelta(hours=wanted.lead_hours)
    span = f"{rfc3339(start)} to {rfc3339(end)}"
    if now < deliver_from:
        hold = Verdict.unknown(WAITING_FOR_WINDOW, f"a time-boxed hub ({span}): delivered from "
                                                   f"{rfc3339(deliver_from)}, {wanted.lead_hours} h ahead of its start")
        return Verdict.unknown("BeforeWindow", hold.message), hold, None, None
    if now < start:
        return Verdict.unknown("StartingSoon", f"delivered ahead of its window ({span})"), None, None, None
    if now < end:
        return Verdict.true("WindowOpen", f"the hub's window is {span}"), None, None, None
    down = Verdict.false(SCALED_DOWN, f"its window ({span}) is over: the hub is scaled down, its users' data "
                                      f"kept; move spec.lifecycle.window.end to reopen it, or delete the hub")
    return (Verdict.false("WindowEnded", down.message), None, down,
            Notice(f"window-ended/{rfc3339(end)}", "Your time-boxed hub has closed",
                   f"The hub's window ({span}) is over, and it is scaled down: users can no longer log in. Their "
                   f"home directories and the hub's database are kept until the hub is deleted."))


def evaluate(spec: CommunityHubSpec, annotations: Mapping[str, str], now: dt.datetime) -> Guards:
    verdicts: dict[str, Verdict] = {}
    notices: list[Notice] = []
    hold = scale_down = None
    refuse = None
    if (timed := window(spec, now)) is not None:
        verdicts[IN_WINDOW], hold, scale_down, notice = timed
        notices += [notice] if notice else []
    if (ending := contract(spec, now)) is not None:
        verdicts[CONTRACT_ACTIVE], contract_down, notice = ending
        scale_down = scale_down or contract_down
        notices += [notice] if notice else []
    if hold is None and (money := budget(spec, annotations, now)) is not None:
        verdicts[WITHIN_BUDGET], notice, refuse = money
        notices += [notice] if notice else []
    if hold is None and scale_down is None and (idle := inactivity(spec, annotations, now)) is not None:
        verdicts[USERS_ACTIVE], notice = idle
        notices += [notice] if notice else []
    return Guards(verdicts, hold, scale_down, None if scale_down else refuse, tuple(notices))
