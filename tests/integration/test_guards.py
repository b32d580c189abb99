"""Money and lifecycle guards on the local control plane, on a clock the tests move (CHUB_CLOCK_FILE).

Four hubs walk one timeline of three weeks, each test moving the clock forward from where the last one
left it (so they run in file order): a hub over budget at T0+1h, a time-boxed hub through its window
(T0+1d to T0+4d), a hub past its contract (T0+12d to T0+16d) and its renewal, a hub idle for 20 days
(T0+21d); then hubctl's lists and invoices, and a decommission that keeps the hub's volumes. Cost
accrues on the clock's time (a price catalog of large round prices), usage comes from a real JupyterHub,
emails go to the session's real SMTP server.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.api import annotations as ann
from communityhub.api.conditions import rfc3339
from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import (
    create_hub,
    domain,
    hub,
    hub_manifest,
    hub_ns,
    hubctl,
    ns,
    released_values,
    wait_condition,
    wait_ready,
)
from tests.support.jupyterhub import JupyterHubProcess
from tests.support.kube import Cluster, condition, wait_for
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration

PRICES = {"n2-standard-4": 1800.0, "n2-highmem-4": 3600.0}
LEDGER = "communityhub-cost-local"
TENANT = "team-guards"
DAY = dt.timedelta(days=1)


@dataclasses.dataclass
class Timeline:
    clock_file: Path
    t0: dt.datetime
    namespace: str
    jupyterhub: JupyterHubProcess
    workdir: Path

    def at(self, offset: dt.timedelta) -> dt.datetime:
        when = self.t0 + offset
        self.clock_file.write_text(rfc3339(when))
        return when


def community(name: str) -> dict[str, Any]:
    return {"displayName": f"Guarded {name}", "contactEmail": f"{name}@guards.example.org", "archetype": "education"}


def notices(smtp: SmtpSink, name: str, key: str | None = None) -> list[EmailMessage]:
    return [m for m in smtp.to(f"{name}@guards.example.org")
            if m["X-CommunityHub-Notice"] and (key is None or m["X-CommunityHub-Notice"] == key)]


def wait_notice(smtp: SmtpSink, name: str, key: str) -> EmailMessage:
    found: list[EmailMessage] = wait_for(lambda: notices(smtp, name, key), timeout=60,
                                         what=f"the {key} notice to {name}")
    return found[0]


def annotations_of(management: Cluster, name: str, namespace: str) -> dict[str, str]:
    obj = hub(management, name, namespace)
    return dict(obj["metadata"].get("annotations") or {}) if obj else {}


def replicas(management: Cluster, hub_namespace: str) -> dict[str, int]:
    found = management.get("deployments", namespace=hub_namespace)
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in found["items"]}


def patch_spec(management: Cluster, name: str, namespace: str, spec: dict[str, Any]) -> None:
    management.kubectl("-n", namespace, "patch", "communityhub", name, "--type=merge", "-p",
                       json.dumps({"spec": spec}))


@pytest.fixture(scope="module")
def timeline(management: Cluster, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Timeline]:
    namespace = ns(TENANT)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    create_hub(management, "spend", namespace, community=community("spend"),
               billing={"budget": {"monthlyCloudUSD": 1_000_000}})
    create_hub(management, "renew", namespace, community=community("renew"),
               lifecycle={"contractEnd": (t0 + 10 * DAY).date().isoformat(), "reminderDays": 30, "graceDays": 5})
    create_hub(management, "quiet", namespace, community=community("quiet"), lifecycle={"inactiveDays": 20})
    create_hub(management, "workshop", namespace, community=community("workshop"), billing={"setupFeeUSD": 200},
               lifecycle={"window": {"start": rfc3339(t0 + 2 * DAY), "end": rfc3339(t0 + 4 * DAY),
                                     "leadHours": 24}})
    for name in ("spend", "renew", "quiet"):
        wait_ready(management, name, namespace, timeout=180)

    quiet = hub_ns(TENANT, "quiet")
    token = base64.b64decode(management.get("secret", "hub-usage-token", quiet)["data"]["token"]).decode()
    workdir = tmp_path_factory.mktemp("guards")
    jupyterhub = JupyterHubProcess(workdir / "jupyterhub", released_values(management, quiet)["hub"]["extraConfig"],
                                   token)
    jupyterhub.seed({"ada": 2, "bob": 10, "cy": None})  # days since their server last ran
    jupyterhub.start()
    prices = workdir / "prices.yaml"
    prices.write_text(yaml.safe_dump({"gcp": {region: PRICES for region in ("us-central1", "europe-west1")}}))
    clock_file = workdir / "now"
    clock_file.write_text(rfc3339(t0))

    saved = dict(operator.env)
    operator.stop()
    management.kubectl("delete", "configmap", LEDGER, "-n", OPERATOR_NAMESPACE, "--ignore-not-found")
    operator.env.update({"CHUB_CLOCK_FILE": str(clock_file), "CHUB_METER_SECONDS": "2",
                         "CHUB_HUB_API_URL": jupyterhub.api_url, "CHUB_PRICE_CATALOG": str(prices),
                         "CHUB_USAGE_REFRESH_SECONDS": "3600"})
    operator.start()
    yield Timeline(clock_file, t0, namespace, jupyterhub, workdir)
    for name in ("spend", "quiet", "workshop", "renew"):
        management.kubectl("-n", namespace, "delete", "communityhub", name, "--wait=false", check=False)
    wait_for(lambda: not management.get("communityhubs", namespace=namespace)["items"], timeout=180,
             what="the guarded hubs to be deleted")
    jupyterhub.stop()
    operator.stop()
    management.kubectl("delete", "configmap", LEDGER, "-n", OPERATOR_NAMESPACE, "--ignore-not-found")
    operator.env.clear()
    operator.env.update(saved)
    operator.start()


def test_lifecycle_dates_are_checked_at_apply(management: Cluster, timeline: Timeline) -> None:
    bad = hub_manifest("badwindow", timeline.namespace, lifecycle={
        "window": {"start": "2027-01-10T09:00:00Z", "end": "2027-01-09T09:00:00Z"}})
    result = management.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0 and "end must be after start" in result.stderr
    both = hub_manifest("badboth", timeline.namespace, lifecycle={
        "contractEnd": "2027-01-01", "window": {"start": "2027-01-10T09:00:00Z", "end": "2027-01-11T09:00:00Z"}})
    result = management.kubectl("apply", "-f", "-", input=yaml.safe_dump(both), check=False)
    assert result.returncode != 0 and "has no contractEnd" in result.stderr


def test_a_hub_over_budget(management: Cluster, timeline: Timeline, smtp_sink: SmtpSink) -> None:
    namespace, hub_namespace = timeline.namespace, hub_ns(TENANT, "spend")
    wait_condition(management, "spend", namespace, "WithinBudget", "True", "UnderBudget", 60)
    wait_for(lambda: annotations_of(management, "spend", namespace).get(ann.COST_MONTH_TO_DATE), timeout=60,
             what="the first metering")
    timeline.at(dt.timedelta(hours=1))  # an hour of node time on the clock, then it stands still
    month = (timeline.t0 + dt.timedelta(hours=1)).strftime("%Y-%m")

    def spent() -> float | None:
        found = annotations_of(management, "spend", namespace)
        value = float(found.get(ann.COST_MONTH_TO_DATE) or 0)
        return value if value > 1 and found.get(ann.COST_MONTH) == month else None
    cost = wait_for(spent, timeout=60, what="an hour of cloud cost")

    for budget, reason, key in ((cost / 0.6, "BudgetHalfSpent", f"budget-50/{month}"),
                                (cost / 0.95, "BudgetNearlySpent", f"budget-90/{month}")):
        patch_spec(management, "spend", namespace, {"billing": {"budget": {"monthlyCloudUSD": round(budget, 2)}}})
        cond = wait_condition(management, "spend", namespace, "WithinBudget", "True", reason, 60)
        assert f"{cost:.2f} of {budget:.2f} USD" in cond["message"]
        assert "spent" in str(wait_notice(smtp_sink, "spend", key)["Subject"])

    patch_spec(management, "spend", namespace,
               {"billing": {"budget": {"monthlyCloudUSD": round(cost / 1.5, 2), "enforce": True}}})
    cond = wait_condition(management, "spend", namespace, "WithinBudget", "False", "BudgetExceeded", 60)
    assert "new user servers are refused" in cond["message"]
    email = wait_notice(smtp_sink, "spend", f"budget-100/{month}")
    assert "cannot start" in email.get_content()
    hook = wait_for(lambda: released_values(management, hub_namespace)["hub"]["extraConfig"].get(
        "communityhub-budget"), timeout=90, what="the release to refuse new servers")
    assert "pre_spawn_hook" in hook and month in hook
    wait_ready(management, "spend", namespace, timeout=90)  # the hub itself serves on: running servers stay
    events = json.dumps(management.get("events", namespace=namespace))
    assert "BudgetExceeded" in events and "NoticeSent" in events

    patch_spec(management, "spend", namespace, {"billing": {"budget": {"monthlyCloudUSD": round(cost * 10, 2)}}})
    wait_condition(management, "spend", namespace, "WithinBudget", "True", "UnderBudget", 60)
    wait_for(lambda: "communityhub-budget" not in released_values(management, hub_namespace)["hub"]["extraConfig"],
             timeout=90, what="the refusal to be lifted")
    for key in ("budget-50", "budget-90", "budget-100"):
        assert len(notices(smtp_sink, "spend", f"{key}/{month}")) == 1, f"{key} is sent once a month"


def test_a_time_boxed_hub_through_its_window(management: Cluster, timeline: Timeline, smtp_sink: SmtpSink) -> None:
    namespace, hub_namespace = timeline.namespace, hub_ns(TENANT, "workshop")
    obj = hub(management, "workshop", namespace)
    assert obj is not None and obj["status"]["phase"] == "Scheduled"
    assert condition(obj, "ClusterReady")["reason"] == "WaitingForWindow"  # type: ignore[index]
    assert management.get("namespace", hub_namespace) is None  # nothing made before its time

    timeline.at(DAY + dt.timedelta(hours=1))  # within the lead of 24 h
    obj = wait_ready(management, "workshop", namespace, timeout=180)
    assert condition(obj, "InWindow")["reason"] == "StartingSoon"  # type: ignore[index]
    timeline.at(3 * DAY)
    wait_condition(management, "workshop", namespace, "InWindow", "True", "WindowOpen", 60)

    timeline.at(4 * DAY + dt.timedelta(hours=1))
    wait_condition(management, "workshop", namespace, "HubReady", "False", "ScaledDown", 60)
    wait_condition(management, "workshop", namespace, "InWindow", "False", "WindowEnded", 60)
    wait_for(lambda: set(replicas(management, hub_namespace).values()) == {0}, timeout=60,
             what="the workshop's Deployments at 0 replicas")
    assert hub(management, "workshop", namespace)["status"]["phase"] == "ScaledDown"  # type: ignore[index]
    claims = management.get("persistentvolumeclaims", namespace=hub_namespace)["items"]
    assert [c["metadata"]["name"] for c in claims] == ["hub-db-dir"]  # the data stays
    wait_notice(smtp_sink, "workshop", f"window-ended/{rfc3339(timeline.t0 + 4 * DAY)}")


def test_a_hub_past_its_contract_then_renewed(management: Cluster, timeline: Timeline,
                                             smtp_sink: SmtpSink) -> None:
    namespace, hub_namespace = timeline.namespace, hub_ns(TENANT, "renew")
    last_day = (timeline.t0 + 10 * DAY).date().isoformat()
    reminder = wait_notice(smtp_sink, "renew", f"contract-reminder/{last_day}")  # 10 days ahead, reminderDays 30
    assert last_day in str(reminder["Subject"])

    timeline.at(12 * DAY)
    cond = wait_condition(management, "renew", namespace, "ContractActive", "False", "ContractEnded", 60)
    assert "scaled down on" in cond["message"]
    assert condition(hub(management, "renew", namespace), "Ready")["status"] == "True"  # type: ignore[index]

    timeline.at(16 * DAY + dt.timedelta(hours=1))
    wait_condition(management, "renew", namespace, "HubReady", "False", "ScaledDown", 60)
    wait_for(lambda: set(replicas(management, hub_namespace).values()) == {0}, timeout=60,
             what="the hub's Deployments at 0 replicas")
    scaled = wait_notice(smtp_sink, "renew", f"contract-scaled-down/{last_day}")
    assert "kept" in scaled.get_content()
    ready = condition(hub(management, "renew", namespace), "Ready")
    assert ready is not None and ready["status"] == "False" and "contractEnd" in ready["message"]

    patch_spec(management, "renew", namespace,
               {"lifecycle": {"contractEnd": (timeline.t0 + 400 * DAY).date().isoformat()}})
    wait_condition(management, "renew", namespace, "ContractActive", "True", "InContract", 60)
    wait_ready(management, "renew", namespace, timeout=120)
    assert set(replicas(management, hub_namespace).values()) == {1}  # helm's three-way merge brought them back
    assert len(notices(smtp_sink, "renew", f"contract-reminder/{last_day}")) == 1


def test_an_idle_hub_gets_a_condition_and_one_email(management: Cluster, operator: OperatorProcess,
                                                    timeline: Timeline, smtp_sink: SmtpSink) -> None:
    namespace = timeline.namespace
    # At T0+16d ada's server ran 18 days ago: within 20 idle days.
    wait_condition(management, "quiet", namespace, "UsersActive", "True", "UsersActive", 60)
    timeline.at(21 * DAY)
    cond = wait_condition(management, "quiet", namespace, "UsersActive", "False", "NoActiveUsers", 60)
    assert "limit is 20" in cond["message"]
    # Idle since the later of its delivery and its users' last activity (ada's server, 2 days before T0).
    found = annotations_of(management, "quiet", namespace)
    last_activity = ann.read_time(found, ann.USAGE_LAST_ACTIVITY)
    assert dt.timedelta(days=1) < timeline.t0 - last_activity < dt.timedelta(days=3)
    since = rfc3339(max(last_activity, ann.read_time(found, ann.DELIVERED_AT)))
    assert f"since {since}" in cond["message"]
    email = wait_notice(smtp_sink, "quiet", f"inactive/{since}")
    assert "Nobody has used your hub" in str(email["Subject"])
    resyncs = operator.resyncs()
    wait_for(lambda: operator.resyncs() >= resyncs + 5, timeout=60, what="five more resync passes")
    assert len([m for m in notices(smtp_sink, "quiet") if "inactive/" in str(m["X-CommunityHub-Notice"])]) == 1
    assert condition(hub(management, "quiet", namespace), "Ready")["status"] == "True"  # type: ignore[index]


def test_hubctl_lists_the_guarded_and_bills_the_unmetered(management: Cluster, operator: OperatorProcess,
                                                          timeline: Timeline) -> None:
    namespace = timeline.namespace
    listed = hubctl(management, "guards", "-n", namespace, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    attention = {(r["hub"].split("/")[1], r["attention"]) for r in json.loads(listed.stdout)}
    assert {("quiet", "idle"), ("workshop", "window over (scaled down)")} <= attention
    assert not any(name == "renew" for name, _ in attention)  # renewed
    table = hubctl(management, "guards", "-n", namespace)
    assert table.stdout.splitlines()[0].split()[:2] == ["HUB", "ATTENTION"]

    operator.stop()  # the annotations hold still while hubctl reads them
    try:
        for name in ("quiet", "renew"):  # two hubs never metered, as a hub delivered while metering was off
            management.kubectl("-n", namespace, "annotate", "communityhub", name, f"{ann.COST_MONTH}-",
                               f"{ann.COST_MONTH_TO_DATE}-", f"{ann.COST_PREVIOUS_MONTH}-")
        month = timeline.t0.strftime("%Y-%m")
        result = hubctl(management, "billing", "invoices", "-n", namespace, "--month", month, "-o", "json")
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        fees = {line["hub"].split("/")[1] for line in doc["lines"] if line["item"] == "monthly-fee"}
        assert {"spend", "quiet", "renew"} <= fees  # every hub billed its fee...
        assert {p["hub"].split("/")[1] for p in doc["pending"]} == {"quiet", "renew"}  # ...the unmetered pending
        assert "pending" in result.stderr
        workshop = [line for line in doc["lines"] if line["hub"].endswith("/workshop")]
        window = [line for line in workshop if line["item"] == "monthly-fee"]
        start, end = timeline.t0 + 2 * DAY, timeline.t0 + 4 * DAY
        touched = {start.date() + dt.timedelta(days=d) for d in range((end.date() - start.date()).days + 1)}
        days = len([d for d in touched if d.strftime("%Y-%m") == month])  # the window's days in this month
        assert len(window) == (1 if days else 0)
        if window:
            assert f"time-boxed: {days} of" in window[0]["note"]
        strict = hubctl(management, "billing", "invoices", "-n", namespace, "--month", month, "--strict")
        assert strict.returncode == 1
    finally:
        operator.start()


def test_decommission_keeps_the_volumes_and_says_where(management: Cluster, timeline: Timeline,
                                                       smtp_sink: SmtpSink) -> None:
    namespace, hub_namespace = timeline.namespace, hub_ns(TENANT, "renew")
    claim = management.get("persistentvolumeclaim", "hub-db-dir", hub_namespace)
    volume = claim["spec"]["volumeName"]
    management.kubectl("-n", namespace, "delete", "communityhub", "renew", "--timeout=180s")
    pv = management.get("persistentvolume", volume)
    assert pv is not None, "the hub's database volume outlives the hub"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["metadata"]["labels"]["hubs.2i2c.org/decommissioned-from"] == f"{namespace}.renew"
    email = wait_notice(smtp_sink, "renew", "decommissioned")
    text = email.get_content()
    assert volume in text and "hub-db-dir" in text and domain("renew", namespace) in text
    events = management.get("events", namespace=namespace, selector=None)["items"]
    final = [e for e in events if e.get("reason") == "Decommissioned" and e["involvedObject"]["name"] == "renew"]
    assert final and volume in final[0]["message"] and "renew-oauth" in final[0]["message"]
    management.kubectl("delete", "persistentvolume", volume, "--wait=false")  # the test's own cleanup

    # A hub deleted before its delivery never ran: the Event says it went, and its contact gets no email.
    create_hub(management, "never", namespace, community=community("never"),
               placement={"type": "shared", "sharedCluster": "nowhere"})
    wait_condition(management, "never", namespace, "ClusterReady", "False", "SharedClusterNotFound", 60)
    management.kubectl("-n", namespace, "delete", "communityhub", "never", "--timeout=120s")
    events = management.get("events", namespace=namespace)["items"]
    assert any(e.get("reason") == "Decommissioned" and e["involvedObject"]["name"] == "never" for e in events)
    assert notices(smtp_sink, "never") == []
