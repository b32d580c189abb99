"""Usage and cost annotations from a real JupyterHub and kwok nodes, and hubctl reading them back.

The session operator does not meter (CHUB_METER_SECONDS=0). This module restarts it with metering
every 2 s, the hub API of a real JupyterHub process, and a price catalog of round, large prices (so a
few seconds of node-hours are worth many dollars and rounding to cents is far below 1 %).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.adapters import objectstore
from communityhub.api import annotations as ann
from communityhub.api.quantities import parse_cpu, parse_memory
from communityhub.delivery import names
from communityhub.money import cost
from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import create_hub, hub, hub_ns, ns, released_values, wait_condition, wait_ready
from tests.support.jupyterhub import JupyterHubProcess
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

PRICES = {"n2-standard-4": 1800.0, "n2-highmem-4": 3600.0}  # USD per node-hour: a dollar every second or two
LEDGER = "communityhub-cost-local"
#: Days since each user's server last ran; None: logged in, never started one. WAU 1 (ada), MAU 2 (ada, bob).
ACTIVITY = {"ada": 2, "bob": 10, "cy": 45, "dee": None}
GROUPS = {"ada": ["physics"], "bob": ["chem", "physics"]}


@dataclasses.dataclass
class Metered:
    jupyterhub: JupyterHubProcess
    workdir: Path
    namespace: str


def community(name: str) -> dict[str, Any]:
    return {"displayName": f"Metered {name}", "contactEmail": f"{name}@example.org", "archetype": "research",
            "historicallyMarginalized": name == "meter"}


@pytest.fixture(scope="module")
def metered(management: Cluster, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Metered]:
    namespace = ns("team-meter")
    for name in ("meter", "broken"):
        create_hub(management, name, namespace, community=community(name),
                   billing={"setupFeeUSD": 750, "costCenter": "GRANT-9"},
                   # the meter hub's users have a bucket, whose bytes are measured (tests below)
                   storage={"buckets": [{"name": "scratch", "type": "scratch"}] if name == "meter" else []},
                   lifecycle={"decommission": {"buckets": "Delete"}})
    for name in ("meter", "broken"):
        wait_ready(management, name, namespace, timeout=120)
    hub_namespace = hub_ns("team-meter", "meter")
    token = base64.b64decode(management.get("secret", "hub-usage-token", hub_namespace)["data"]["token"]).decode()
    extra_config = released_values(management, hub_namespace)["hub"]["extraConfig"]

    workdir = tmp_path_factory.mktemp("metering")
    jupyterhub = JupyterHubProcess(workdir / "jupyterhub", extra_config, token)
    jupyterhub.seed(ACTIVITY, GROUPS)
    jupyterhub.start()
    prices = workdir / "prices.yaml"
    prices.write_text(yaml.safe_dump({"gcp": {region: PRICES for region in ("us-central1", "europe-west1")}}))

    saved = dict(operator.env)
    operator.stop()
    management.kubectl("delete", "configmap", LEDGER, "-n", OPERATOR_NAMESPACE, "--ignore-not-found")
    operator.env.update({"CHUB_METER_SECONDS": "2", "CHUB_HUB_API_URL": jupyterhub.api_url,
                         "CHUB_PRICE_CATALOG": str(prices), "CHUB_USAGE_REFRESH_SECONDS": "3600"})
    operator.start()
    yield Metered(jupyterhub, workdir, namespace)
    jupyterhub.stop()
    operator.stop()
    operator.env.clear()
    operator.env.update(saved)
    operator.start()


def annotations_of(management: Cluster, name: str, namespace: str) -> dict[str, str]:
    obj = hub(management, name, namespace)
    return dict(obj["metadata"].get("annotations") or {}) if obj else {}


def test_usage_comes_from_the_hubs_own_api(management: Cluster, metered: Metered) -> None:
    found = wait_for(lambda: (a := annotations_of(management, "meter", metered.namespace)).get(ann.USAGE_MAU) and a,
                     timeout=60, what="usage annotations")
    assert (found[ann.USAGE_WAU], found[ann.USAGE_MAU]) == ("1", "2")
    observed = ann.read_time(found, ann.USAGE_OBSERVED_AT)
    assert abs((dt.datetime.now(dt.UTC) - observed).total_seconds()) < 120
    cond = wait_condition(management, "meter", metered.namespace, "UsageReported", "True", "UsageRead")
    assert "of 4" in cond["message"]
    # The hub saw the operator's service, with the role the rendered extraConfig gave it.
    assert "communityhub-usage@127.0.0.1" in (metered.jupyterhub.workdir / "jupyterhub.log").read_text()
    # Unchanged figures are not rewritten on every metering (every 2 s here).
    time.sleep(5)
    assert annotations_of(management, "meter", metered.namespace)[ann.USAGE_OBSERVED_AT] == found[ann.USAGE_OBSERVED_AT]


def test_the_bytes_in_a_hubs_buckets_are_metered(management: Cluster, metered: Metered, s3_server: str) -> None:
    bucket = names.derive(metered.namespace, "meter").bucket("scratch")
    wait_for(lambda: annotations_of(management, "meter", metered.namespace).get(ann.USAGE_BUCKET_BYTES) == "0",
             timeout=60, what="the empty bucket's figure")
    for key, body in (("alice/a.csv", b"x" * 1000), ("bob/b.nc", b"y" * 234)):
        request = urllib.request.Request(f"{s3_server}/{bucket}/{key}", data=body, method="PUT",
                                         headers={"Content-Type": "application/octet-stream",
                                                  "Authorization": objectstore.AUTHORIZATION})
        urllib.request.urlopen(request, timeout=10).close()
    wait_for(lambda: annotations_of(management, "meter", metered.namespace).get(ann.USAGE_BUCKET_BYTES) == "1234",
             timeout=60, what="the bytes stored to be metered")
    cond = wait_condition(management, "meter", metered.namespace, "UsageReported", "True", "UsageRead")
    assert f"1234 bytes in bucket(s) {bucket}" in cond["message"]
    assert ann.USAGE_BUCKET_BYTES not in annotations_of(management, "broken", metered.namespace)  # it has none


def test_node_costs_are_apportioned_and_conserved(management: Cluster, metered: Metered) -> None:
    def ledger() -> dict[str, Any] | None:
        cm = management.get("configmap", LEDGER, OPERATOR_NAMESPACE)
        doc = json.loads(cm["data"]["ledger.json"]) if cm else None
        return doc if doc and doc["total"] > 0 else None

    wait_for(ledger, timeout=60, what="a cost ledger with some cost")
    time.sleep(6)
    doc = ledger()
    assert doc is not None and doc["cluster"] == "local" and doc["unpriced"] == []
    # Conserved: the hubs' shares and the overhead add up to what the cluster's nodes cost...
    assert sum(doc["owners"].values()) == pytest.approx(doc["total"], rel=1e-9)
    nodes = {n["metadata"]["name"]: n for n in management.get("nodes")["items"]}
    hourly = sum(PRICES[n["metadata"]["labels"][cost.INSTANCE_TYPE_LABEL]] for n in nodes.values())
    hours = (cost.parse_time(doc["observedAt"]) - cost.parse_time(doc["since"])).total_seconds() / 3600
    assert doc["total"] == pytest.approx(hourly * hours, rel=0.01)
    assert doc["owners"][cost.OVERHEAD] > 0

    # ...and a hub's share of a node is its pods' requests over the node's allocatable capacity.
    expected = 0.0
    for pod in management.get("pods", namespace=hub_ns("team-meter", "meter"))["items"]:
        node = nodes[pod["spec"]["nodeName"]]
        allocatable = node["status"]["allocatable"]
        requests = [c.get("resources", {}).get("requests", {}) for c in pod["spec"]["containers"]]
        cpu = sum(parse_cpu(r.get("cpu", "0")) for r in requests) / parse_cpu(allocatable["cpu"])
        memory = sum(parse_memory(r.get("memory", "0")) for r in requests) / parse_memory(allocatable["memory"])
        expected += PRICES[node["metadata"]["labels"][cost.INSTANCE_TYPE_LABEL]] * (cpu + memory) / 2
    assert doc["rates"][f"{metered.namespace}/meter"] == pytest.approx(expected, rel=0.01)

    # The annotation is the ledger's figure for the hub, in cents. The meter runs every 2 s, so the annotation
    # may come from a pass after `doc` was read: it lies between the ledger before and the ledger after it. On a
    # busy machine a pass may be late (CI saw one a ledger behind), so it is looked at again for a while.
    owner = f"{metered.namespace}/meter"

    def bracketed() -> tuple[float, float, float] | None:
        before = ledger()
        found = annotations_of(management, "meter", metered.namespace)
        after = ledger()
        assert before is not None and after is not None
        assert found[ann.COST_MONTH] == dt.datetime.now(dt.UTC).strftime("%Y-%m")
        figures = (before["owners"][owner], float(found[ann.COST_MONTH_TO_DATE]), after["owners"][owner])
        return figures if 0 < figures[0] - 0.01 <= figures[1] <= figures[2] + 0.01 else None

    wait_for(bracketed, timeout=30, interval=1, what="the cost annotation between the ledger before and after it")
    assert condition(hub(management, "meter", metered.namespace), "CostReported")["status"] == "True"  # type: ignore[index]


def test_an_unreachable_hub_keeps_its_last_figures(management: Cluster, metered: Metered) -> None:
    before = wait_for(lambda: (a := annotations_of(management, "meter", metered.namespace)).get(ann.USAGE_MAU) and a)
    metered.jupyterhub.stop()
    cond = wait_condition(management, "meter", metered.namespace, "UsageReported", "False", "HubApiUnreachable")
    assert before[ann.USAGE_OBSERVED_AT] in cond["message"]
    time.sleep(4)
    after = annotations_of(management, "meter", metered.namespace)
    for key in (ann.USAGE_WAU, ann.USAGE_MAU, ann.USAGE_OBSERVED_AT):
        assert after[key] == before[key], f"{key} changed while the hub could not be read"
    metered.jupyterhub.start()
    wait_condition(management, "meter", metered.namespace, "UsageReported", "True", "UsageRead")


def test_hubctl_splits_a_hubs_cost_by_user_and_group(management: Cluster, metered: Metered) -> None:
    """From the real ledger: the groups as the real JupyterHub's API gives them (the usage service may read
    them), and the hub's cost split. kwok runs no user server here, so every dollar is the hub's overhead."""
    owner = f"{metered.namespace}/meter"

    def grouped() -> dict[str, Any] | None:
        cm = management.get("configmap", LEDGER, OPERATOR_NAMESPACE)
        doc = json.loads(cm["data"]["ledger.json"]) if cm else {}
        found = (doc.get("userGroups") or {}).get(owner)
        return doc if found and doc["owners"].get(owner) else None

    doc = wait_for(grouped, timeout=60, what="the ledger to know the hub's groups")
    assert doc["userGroups"][owner] == {"ada": ["physics"], "bob": ["chem", "physics"], "cy": [], "dee": []}
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    result = hubctl(management, "billing", "users", "--hub", owner, "--month", month, "--by", "group", "-o", "json",
                    "--operator-namespace", OPERATOR_NAMESPACE)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["rows"] == [] and found["hubUSD"] > 0 and found["overheadUSD"] == found["hubUSD"]
    refused = hubctl(management, "billing", "users", "--hub", owner, "--month", "2001-01",
                     "--operator-namespace", OPERATOR_NAMESPACE)
    assert refused.returncode == 2 and "not 2001-01" in refused.stderr


def hubctl(management: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "communityhub.cli.hubctl", *args], capture_output=True, text=True,
                          env={"KUBECONFIG": str(management.kubeconfig), "PATH": "/usr/bin:/bin"}, timeout=60)


def test_hubctl_bills_what_the_operator_wrote(management: Cluster, operator: OperatorProcess,
                                             metered: Metered) -> None:
    wait_for(lambda: annotations_of(management, "broken", metered.namespace).get(ann.COST_MONTH_TO_DATE),
             what="the second hub's cost")
    operator.stop()  # freeze the annotations, so the test and hubctl read the same figures
    management.kubectl("annotate", "--overwrite", "communityhub", "broken", "-n", metered.namespace,
                       f"{ann.BILLING_MONTHLY_FEE}=lots")
    found = annotations_of(management, "meter", metered.namespace)
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    out = metered.workdir / "invoices"
    result = hubctl(management, "-n", metered.namespace, "billing", "invoices", "--month", month, "--out", str(out))
    assert result.returncode == 0, result.stderr  # one hub could not be billed: said, and it blocks nobody...
    assert f"{metered.namespace}/broken" in result.stderr and "lots" in result.stderr
    assert f"{metered.namespace}/meter" in result.stdout.splitlines()[1]  # a table on standard output
    strict = hubctl(management, "billing", "invoices", "-n", metered.namespace, "--month", month, "--strict",
                    "-o", "csv")
    assert strict.returncode == 1 and strict.stdout.startswith("month,hub,community"), strict.stderr
    doc = json.loads((out / f"invoices-{month}.json").read_text())
    assert [e["hub"] for e in doc["errors"]] == [f"{metered.namespace}/broken"]

    lines = {line["item"]: line for line in doc["lines"]}  # ...the other one is
    assert {line["hub"] for line in doc["lines"]} == {f"{metered.namespace}/meter"}
    delivered = ann.read_time(found, ann.DELIVERED_AT)
    start = delivered.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = ((start + dt.timedelta(days=32)).replace(day=1) - start).days
    billed_days = days - (delivered.day - 1)
    assert lines["setup-fee"]["amount_usd"] == 750.0
    assert lines["monthly-fee"]["amount_usd"] == round(1500 * billed_days / days, 2)
    assert f"prorated: {billed_days} of {days} days" in lines["monthly-fee"]["note"]
    assert lines["cloud-cost"]["amount_usd"] == round(float(found[ann.COST_MONTH_TO_DATE]), 2)
    assert doc["totals"]["monthly"] == round(lines["monthly-fee"]["amount_usd"] + lines["cloud-cost"]["amount_usd"], 2)
    assert doc["totals"]["setup"] == 750.0
    csv_rows = (out / f"invoices-{month}.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 3 and csv_rows[0].startswith("month,hub,community,cost_center")

    # The JupyterHub knows only the first hub's usage token: the second hub has no usage figures, and is listed.
    kpis = hubctl(management, "-n", metered.namespace, "kpis", "-o", "json")
    assert kpis.returncode == 0 and f"{metered.namespace}/broken" in kpis.stderr
    figures = json.loads(kpis.stdout)
    assert figures["communities"] == 2 and figures["historicallyMarginalizedCommunities"] == 1
    assert (figures["weeklyActiveUsers"], figures["monthlyActiveUsers"]) == (1, 2)
    assert [e["hub"] for e in figures["errors"]] == [f"{metered.namespace}/broken"]
    operator.start()
