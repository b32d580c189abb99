"""Money and lifecycle guards (pure): budgets, contract ends, inactivity, time-boxed windows, the notices'
exactly-once record, decommissioning's summary, and what billing and hubctl make of them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError
from tornado import web
from traitlets.config import Config

from communityhub import reconcile
from communityhub.api import annotations as ann
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.cli.hubctl import render_guards
from communityhub.delivery import render
from communityhub.fleet import decommission, lifecycle, notices, report
from communityhub.money import billing
from tests.unit.test_render import base_spec

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def spec(billing_: dict | None = None, **lifecycle_: object):
    return base_spec(billing={"setupFeeUSD": 100, **(billing_ or {})}, lifecycle=lifecycle_)


def metered(spent: float, month: str = "2026-11") -> dict[str, str]:
    return {ann.COST_MONTH: month, ann.COST_MONTH_TO_DATE: f"{spent:.2f}"}


def test_no_guard_in_the_spec_decides_nothing() -> None:
    guards = lifecycle.evaluate(spec(), {}, NOW)
    assert guards.verdicts == {} and guards.notices == () and guards.hold is None and guards.scale_down is None
    assert guards.removed == set(lifecycle.GUARD_CONDITIONS)  # conditions of guards removed from the spec go


@pytest.mark.parametrize(("spent", "status", "reason", "notice"), [
    (10, "True", "UnderBudget", None),
    (50, "True", "BudgetHalfSpent", "budget-50/2026-11"),
    (95, "True", "BudgetNearlySpent", "budget-90/2026-11"),
    (100, "False", "BudgetExceeded", "budget-100/2026-11"),
    (250, "False", "BudgetExceeded", "budget-100/2026-11"),
])
def test_budget_thresholds(spent: float, status: str, reason: str, notice: str | None) -> None:
    guards = lifecycle.evaluate(spec({"budget": {"monthlyCloudUSD": 100}}), metered(spent), NOW)
    verdict = guards.verdicts[lifecycle.WITHIN_BUDGET]
    assert (verdict.status, verdict.reason) == (status, reason)
    assert f"{spent:.2f} of 100.00 USD" in verdict.message
    assert [n.key for n in guards.notices] == ([notice] if notice else [])
    assert guards.refuse_spawn is None  # not enforced


def test_an_enforced_budget_refuses_new_servers_until_the_month_closes_or_it_rises() -> None:
    enforced = spec({"budget": {"monthlyCloudUSD": 100, "enforce": True}})
    over = lifecycle.evaluate(enforced, metered(120), NOW)
    assert over.refuse_spawn and "2026-11" in over.refuse_spawn and "running are not affected" in over.refuse_spawn
    assert "refused" in over.verdicts[lifecycle.WITHIN_BUDGET].message
    # The month closed: the figures on the hub are last month's; this month starts at zero.
    december = lifecycle.evaluate(enforced, metered(120), dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC))
    assert december.refuse_spawn is None and december.verdicts[lifecycle.WITHIN_BUDGET].reason == "UnderBudget"
    risen = lifecycle.evaluate(spec({"budget": {"monthlyCloudUSD": 1000, "enforce": True}}), metered(120), NOW)
    assert risen.refuse_spawn is None and risen.notices == ()  # 12 %: below the first threshold
    unmetered = lifecycle.evaluate(enforced, {}, NOW)
    assert unmetered.verdicts[lifecycle.WITHIN_BUDGET].status == "Unknown" and unmetered.refuse_spawn is None


def test_the_refusal_is_a_real_pre_spawn_hook() -> None:
    """The extraConfig JupyterHub runs: the hook refuses with the message users read (403)."""
    message = "This hub's cloud budget for 2026-11 is spent: it's 'quoted' \"twice\""
    values = render.values("hubs", "lab", base_spec(), refuse_spawn=message)
    code = values["hub"]["extraConfig"]["communityhub-budget"]
    c = Config()
    exec(compile(code, "extraConfig", "exec"), {"c": c})
    with pytest.raises(web.HTTPError) as refused:
        c.Spawner.pre_spawn_hook(object())
    assert refused.value.status_code == 403 and refused.value.log_message == message
    assert "communityhub-budget" not in render.values("hubs", "lab", base_spec())["hub"]["extraConfig"]


def test_contract_through_its_end_grace_and_scale_down() -> None:
    contract = spec(contractEnd="2026-12-31", reminderDays=30, graceDays=14)

    def at(day: str, hour: int = 12) -> lifecycle.Guards:
        return lifecycle.evaluate(contract, {}, dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC))

    assert at("2026-11-20").verdicts[lifecycle.CONTRACT_ACTIVE].reason == "InContract"
    soon = at("2026-12-10")
    assert soon.verdicts[lifecycle.CONTRACT_ACTIVE].reason == "ContractEndingSoon"
    assert [n.key for n in soon.notices] == ["contract-reminder/2026-12-31"] and soon.scale_down is None
    assert at("2026-12-31", 23).verdicts[lifecycle.CONTRACT_ACTIVE].status == "True"  # through its last day
    ended = at("2027-01-05")
    assert ended.verdicts[lifecycle.CONTRACT_ACTIVE].reason == "ContractEnded" and ended.scale_down is None
    assert "2027-01-15" in ended.verdicts[lifecycle.CONTRACT_ACTIVE].message  # when it will be scaled down
    down = at("2027-01-15", 0)
    assert down.scale_down is not None and down.scale_down.reason == conditions.SCALED_DOWN
    assert [n.key for n in down.notices] == ["contract-scaled-down/2026-12-31"]
    assert lifecycle.USERS_ACTIVE not in down.verdicts


def test_inactivity_counts_from_the_last_activity_or_the_delivery() -> None:
    watched = spec(inactiveDays=30)
    seen = {ann.DELIVERED_AT: "2026-09-01T00:00:00Z", ann.USAGE_OBSERVED_AT: "2026-11-20T11:00:00Z"}
    assert lifecycle.evaluate(watched, {ann.DELIVERED_AT: "2026-09-01T00:00:00Z"}, NOW).verdicts[
        lifecycle.USERS_ACTIVE].reason == "UsageNotObserved"
    idle = lifecycle.evaluate(watched, seen, NOW)  # nobody ever started a server: idle since delivery
    assert idle.verdicts[lifecycle.USERS_ACTIVE].reason == "NoActiveUsers"
    assert [n.key for n in idle.notices] == ["inactive/2026-09-01T00:00:00Z"]
    active = lifecycle.evaluate(watched, {**seen, ann.USAGE_LAST_ACTIVITY: "2026-11-01T00:00:00Z"}, NOW)
    assert active.verdicts[lifecycle.USERS_ACTIVE].status == "True" and active.notices == ()
    again = lifecycle.evaluate(watched, {**seen, ann.USAGE_LAST_ACTIVITY: "2026-10-01T00:00:00Z"}, NOW)
    assert [n.key for n in again.notices] == ["inactive/2026-10-01T00:00:00Z"]  # a new idle stretch, a new notice
    assert lifecycle.evaluate(watched, {}, NOW).verdicts == {}  # not delivered: not watched yet


def test_a_time_boxed_hub_through_its_window() -> None:
    boxed = spec(window={"start": "2026-12-01T09:00:00Z", "end": "2026-12-05T17:00:00Z", "leadHours": 48})

    def at(when: str) -> lifecycle.Guards:
        return lifecycle.evaluate(boxed, {}, dt.datetime.fromisoformat(when))

    before = at("2026-11-29T08:00:00+00:00")
    assert before.hold is not None and before.hold.reason == conditions.WAITING_FOR_WINDOW
    assert "2026-11-29T09:00:00Z" in before.hold.message
    ahead = at("2026-11-29T09:00:00+00:00")
    assert ahead.hold is None and ahead.verdicts[lifecycle.IN_WINDOW].reason == "StartingSoon"
    assert at("2026-12-03T00:00:00+00:00").verdicts[lifecycle.IN_WINDOW].status == "True"
    after = at("2026-12-05T17:00:00+00:00")
    assert after.scale_down is not None and after.verdicts[lifecycle.IN_WINDOW].reason == "WindowEnded"
    assert [n.key for n in after.notices] == ["window-ended/2026-12-05T17:00:00Z"]


def test_lifecycle_fields_are_checked() -> None:
    with pytest.raises(ValidationError):
        spec(reminderDays=0)
    with pytest.raises(ValidationError):
        spec(contractEnd="2026-02-30")
    with pytest.raises(ValidationError):
        spec({"budget": {"monthlyCloudUSD": 0}})


def test_held_and_scaled_down_hubs_are_not_polled_and_say_so_in_their_phase() -> None:
    held = dict.fromkeys(conditions.STEP_CONDITIONS, Verdict.unknown(conditions.WAITING_FOR_WINDOW, "later"))
    assert reconcile.retry_delay(held, retry=0) is None and conditions.phase(held, False) == "Scheduled"
    down = {**dict.fromkeys(conditions.STEP_CONDITIONS, Verdict.true("Ok")),
            "HubReady": Verdict.false(conditions.SCALED_DOWN, "contract"),
            lifecycle.CONTRACT_ACTIVE: Verdict.false("ContractEndedScaledDown")}
    assert reconcile.retry_delay(down, retry=3) is None and conditions.phase(down, True) == "ScaledDown"
    assert reconcile.failures(down) == frozenset()
    # A guard's False is news, not a failure: a Ready hub over budget is not retried on a backoff.
    ready = {**dict.fromkeys(conditions.STEP_CONDITIONS, Verdict.true("Ok")),
             lifecycle.WITHIN_BUDGET: Verdict.false("BudgetExceeded")}
    assert reconcile.retry_delay(ready, retry=0) is None


def test_removed_guards_leave_the_status() -> None:
    old = {"conditions": [{"type": lifecycle.WITHIN_BUDGET, "status": "False", "reason": "BudgetExceeded",
                           "message": "", "lastTransitionTime": "2026-11-01T00:00:00Z"}]}
    verdicts = dict.fromkeys(conditions.STEP_CONDITIONS, Verdict.true("Ok"))
    patch, _ = reconcile.status_patch(old, verdicts, generation=1, url="u", extra={}, now="2026-11-02T00:00:00Z",
                                      remove=frozenset({lifecycle.WITHIN_BUDGET}))
    assert lifecycle.WITHIN_BUDGET not in {c["type"] for c in patch["conditions"]}


def test_the_notice_record_sends_each_occurrence_once() -> None:
    assert notices.read({}) == {} and notices.decide({}, "budget-50/2026-11") == "send"
    ledger = {"budget-50/2026-10": {"id": "<a@x>", "sentAt": "2026-10-10T00:00:00Z"},
              "budget-90/2026-11": {"id": "<b@x>"}, "contract-reminder/2026-12-31": {"id": "<c@x>", "sentAt": "t"}}
    assert notices.decide(ledger, "budget-90/2026-11") == "unconfirmed"  # stopped mid-send: never again
    assert notices.decide(ledger, "contract-reminder/2026-12-31") == "done"
    kept = json.loads(notices.dump(ledger, "2026-11"))
    assert set(kept) == {"budget-90/2026-11", "contract-reminder/2026-12-31"}  # last month's cannot recur
    assert notices.read({ann.NOTICES: notices.dump(ledger, "2026-11")}) == kept
    for broken in ("not json", "[]", '{"k": {"sentAt": "t"}}'):
        with pytest.raises(notices.LedgerError):
            notices.read({ann.NOTICES: broken})


def test_a_notice_email_names_the_hub_and_the_occurrence() -> None:
    guards = lifecycle.evaluate(spec({"budget": {"monthlyCloudUSD": 100}}), metered(91), NOW)
    msg = notices.message(base_spec(), "hubs", "lab", guards.notices[0], sender="hubs@example.org",
                          support_url="https://help.example.org", support_email="")
    body = msg.get_content()
    assert msg["Subject"].startswith("Cloud budget for 2026-11 is 90 % spent")
    assert msg["X-CommunityHub-Notice"] == "budget-90/2026-11"
    assert "91.00 of 100.00 USD" in body and "https://help.example.org" in body and "hubs/lab" in body


def test_decommission_lists_what_was_kept_and_what_to_revoke() -> None:
    volumes = [{"claim": "hub-db-dir", "volume": "pvc-1", "capacity": "1Gi"}]
    verdict, notice = decommission.summary(base_spec(), "hubs", "lab", "local", volumes)
    assert verdict.ok and "pvc-1 (claim hub-db-dir, 1Gi)" in verdict.message and "cluster local" in verdict.message
    spec_ = base_spec()
    assert spec_.hub.domain in verdict.message and spec_.auth.client_secret_ref.name in verdict.message
    assert "hub-db-dir" in notice.text and notice.key == decommission.NOTICE_KEY
    deleted = base_spec(lifecycle={"decommission": {"volumes": "Delete"}})
    assert decommission.to_keep(deleted, volumes) == []
    assert "deleted" in decommission.summary(deleted, "hubs", "lab", "local", volumes)[0].message


def test_decommission_says_what_became_of_the_buckets() -> None:
    kept, notice = decommission.summary(base_spec(), "hubs", "lab", "local", [], ["s3://lab-data"])
    assert "buckets s3://lab-data kept in the cloud account" in kept.message
    assert "s3://lab-data were kept, with their files" in notice.text
    deleted = base_spec(lifecycle={"decommission": {"buckets": "Delete"}})
    verdict, notice = decommission.summary(deleted, "hubs", "lab", "local", [], ["s3://lab-data"])
    assert "s3://lab-data deleted with their objects" in verdict.message and "deleted with their files" in notice.text
    assert "bucket" not in decommission.summary(base_spec(), "hubs", "lab", "local", [])[0].message


def test_a_time_boxed_hub_is_billed_for_its_window() -> None:
    boxed = spec(window={"start": "2026-11-28T09:00:00Z", "end": "2026-12-03T17:00:00Z"})
    written = {k: v for k, v in billing.billing_annotations(boxed).items() if v is not None}
    written[ann.DELIVERED_AT] = "2026-11-27T09:00:00Z"
    written.update(metered(12.5))
    november = billing.hub_lines("hubs/lab", "Lab", "", written, "2026-11")
    fee = float(written[ann.BILLING_MONTHLY_FEE])
    assert [(line.item, line.amount_usd) for line in november] == [
        ("setup-fee", 100.0), ("monthly-fee", round(fee * 3 / 30, 2)), ("cloud-cost", 12.5)]
    december = billing.hub_lines("hubs/lab", "Lab", "", {**written, **metered(0, "2026-12")}, "2026-12")
    assert [line.amount_usd for line in december if line.item == "monthly-fee"] == [round(fee * 3 / 31, 2)]
    assert "time-boxed: 3 of 31 days" in december[0].note
    january = billing.hub_lines("hubs/lab", "Lab", "", {**written, **metered(0, "2027-01")}, "2027-01")
    assert [line.item for line in january] == ["cloud-cost"]  # no fee outside its window
    assert billing.billing_annotations(spec())[ann.BILLING_WINDOW_START] is None  # removed when the window goes


def test_hubctl_guards_lists_who_needs_attention() -> None:
    def hub(name: str, *conds: tuple[str, str, str]) -> dict:
        return {"metadata": {"namespace": "hubs", "name": name}, "status": {"conditions": [
            {"type": t, "status": s, "reason": r, "message": f"{r} message", "lastTransitionTime": "2026-11-01"}
            for t, s, r in conds] + [{"type": "Ready", "status": "True", "reason": "HubAvailable"}]}}

    hubs = [hub("fine", ("WithinBudget", "True", "UnderBudget")),
            hub("spent", ("WithinBudget", "False", "BudgetExceeded"), ("UsersActive", "False", "NoActiveUsers")),
            hub("over", ("ContractActive", "False", "ContractEndedScaledDown"))]
    found = report.rows(hubs)
    assert [(r["hub"], r["attention"]) for r in found] == [
        ("hubs/over", "past contract (scaled down)"), ("hubs/spent", "idle"), ("hubs/spent", "over budget")]
    assert len(report.rows(hubs, everything=True)) == 4
    table = render_guards(found, "table")
    assert table.splitlines()[0].split() == ["HUB", "ATTENTION", "SINCE", "MESSAGE"]
    assert "BudgetExceeded message" in table
    assert render_guards([], "table").startswith("no hub")
    assert json.loads(render_guards(found, "json"))[0]["reason"] == "ContractEndedScaledDown"
