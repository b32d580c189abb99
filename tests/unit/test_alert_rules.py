"""The chart's alert rules (issue 34), run by Prometheus' own ``promtool test rules`` over series written here:
each alert fires after its ``for`` and not before, names the hub, carries its severity and its runbook section, and
stays quiet for a healthy hub. The operator's side of the series (``communityhub_hub_condition``) is checked
against its real collector, so a renamed label or metric fails here too."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.runtime import metrics
from localcluster import binaries
from tests.conftest import REPO

RULES = REPO / "helm" / "communityhub-operator" / "files" / "communityhub.rules.yaml"
OPERATIONS = REPO / "docs" / "operations.md"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return binaries.ensure(["promtool"])["promtool"]


def condition(name: str, condition: str, status: str, reason: str, values: str) -> dict[str, str]:
    return {"series": f'communityhub_hub_condition{{namespace="hubs",name="{name}",condition="{condition}",'
                      f'status="{status}",reason="{reason}"}}', "values": values}


def rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}


def fired(alert: str, labels: dict[str, str], summary: str) -> dict[str, Any]:
    rule = rules()[alert]
    return {"exp_labels": {**rule["labels"], **labels},
            "exp_annotations": {"summary": summary, "description": rule["annotations"]["description"],
                                "runbook_url": rule["annotations"]["runbook_url"]}}


#: (alert, input series, minutes it must not have fired by, minutes it has fired by, labels, summary)
CASES: list[tuple[str, list[dict[str, str]], int, int, dict[str, str], str]] = [
    ("CommunityHubNotAnswering",
     [condition("lab", "HubReady", "False", "HubNotAnswering", "1x30"),
      condition("ok", "HubReady", "True", "HubAvailable", "1x30")],
     9, 11, {"namespace": "hubs", "name": "lab"}, "CommunityHub hubs/lab: the hub does not answer"),
    ("CommunityHubServingCheckFailing",
     [condition("lab", "ServingUsers", "False", "ServerExited", "1x30"),
      condition("ok", "ServingUsers", "True", "ServerStarted", "1x30")],
     14, 16, {"namespace": "hubs", "name": "lab", "reason": "ServerExited"},
     "CommunityHub hubs/lab: a user's server does not start (ServerExited)"),
    ("CommunityHubHomeShareNearlyFull",
     [condition("lab", "HomeStorage", "False", "DiskNearlyFull", "1x40")],
     29, 31, {"namespace": "hubs", "name": "lab"}, "CommunityHub hubs/lab: its home share is nearly full"),
    ("CommunityHubBudgetNearlySpent",
     [condition("lab", "WithinBudget", "True", "BudgetNearlySpent", "1x5"),
      condition("ok", "WithinBudget", "True", "BudgetHalfSpent", "1x5")],
     -1, 1, {"namespace": "hubs", "name": "lab"}, "CommunityHub hubs/lab has spent 90% of its monthly budget"),
    ("CommunityHubBudgetExceeded",
     [condition("lab", "WithinBudget", "False", "BudgetExceeded", "1x5")],
     -1, 1, {"namespace": "hubs", "name": "lab"}, "CommunityHub hubs/lab is over its monthly budget"),
    ("CommunityHubReleaseStuck",
     [condition("lab", "HubReady", "False", "HelmFailed", "1x90"),
      condition("quiet", "HubReady", "False", "ContractEndedScaledDown", "1x90"),
      condition("down", "HubReady", "False", "HubNotAnswering", "1x90")],
     59, 61, {"namespace": "hubs", "name": "lab", "reason": "HelmFailed"},
     "CommunityHub hubs/lab: its release is not Ready for an hour (HelmFailed)"),
    ("CommunityHubClusterCredentialExpiring",
     # expires at 3h30m of the test's clock: within the hour from 2h30m, so it fires at 2h40m
     [{"series": 'communityhub_cluster_credential_expiry_timestamp_seconds{namespace="hubs",name="lab"}',
       "values": "12600x200"},
      {"series": 'communityhub_cluster_credential_expiry_timestamp_seconds{namespace="hubs",name="ok"}',
       "values": "90000x200"}],
     155, 161, {"namespace": "hubs", "name": "lab"},
     "CommunityHub hubs/lab: the operator's credential for its cluster expires within an hour"),
    ("CommunityHubDatabaseNearlyFull",
     [{"series": 'kubelet_volume_stats_available_bytes{namespace="lab-hub",persistentvolumeclaim="hub-db-dir"}',
       "values": "50x60"},
      {"series": 'kubelet_volume_stats_capacity_bytes{namespace="lab-hub",persistentvolumeclaim="hub-db-dir"}',
       "values": "1000x60"},
      {"series": 'kubelet_volume_stats_available_bytes{namespace="lab-hub",persistentvolumeclaim="home"}',
       "values": "1x60"},
      {"series": 'kubelet_volume_stats_capacity_bytes{namespace="lab-hub",persistentvolumeclaim="home"}',
       "values": "1000x60"}],
     29, 31, {"namespace": "lab-hub", "persistentvolumeclaim": "hub-db-dir"},
     "The hub database of namespace lab-hub is 5% free"),
]


def test_the_rule_file_is_one_prometheus_loads(promtool: Path) -> None:
    done = subprocess.run([str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_every_alert_is_tested_and_has_a_severity_and_a_runbook_section() -> None:
    assert {case[0] for case in CASES} == set(rules())
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in OPERATIONS.read_text().splitlines() if line.startswith("#")}
    for name, rule in rules().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["runbook_url"].split("#")[1] in anchors, name


@pytest.mark.parametrize(("alert", "series", "quiet", "firing", "labels", "summary"), CASES,
                         ids=[case[0] for case in CASES])
def test_the_alert_fires_after_its_wait_and_names_the_hub(promtool: Path, tmp_path: Path, alert: str,
                                                         series: list[dict[str, str]], quiet: int, firing: int,
                                                         labels: dict[str, str], summary: str) -> None:
    checks: list[dict[str, Any]] = [{"eval_time": f"{firing}m", "alertname": alert,
                                     "exp_alerts": [fired(alert, labels, summary)]}]
    if quiet >= 0:
        checks.insert(0, {"eval_time": f"{quiet}m", "alertname": alert, "exp_alerts": []})
    test = {"rule_files": [str(RULES)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]}
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([str(promtool), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_operator_exports_the_series_the_rules_read() -> None:
    """The per-hub condition series, from the operator's real collector, with the labels the rules select on."""
    collector = metrics.HubConditions()
    collector.update(("hubs", "lab"), [{"type": "HubReady", "status": "False", "reason": "HubNotAnswering"}])
    (_, per_hub) = list(collector.collect())
    assert per_hub.name == "communityhub_hub_condition"
    (sample,) = per_hub.samples
    assert sample.labels == {"namespace": "hubs", "name": "lab", "condition": "HubReady", "status": "False",
                             "reason": "HubNotAnswering"} and sample.value == 1
    collector.forget(("hubs", "lab"))
    assert list(collector.collect())[1].samples == []
    metrics.CLUSTER_CREDENTIAL_EXPIRY.labels("hubs", "lab").set(12600)
    assert metrics.REGISTRY.get_sample_value("communityhub_cluster_credential_expiry_timestamp_seconds",
                                             {"namespace": "hubs", "name": "lab"}) == 12600
    metrics.forget_cluster_credential(("hubs", "lab"))
    assert metrics.REGISTRY.get_sample_value("communityhub_cluster_credential_expiry_timestamp_seconds",
                                             {"namespace": "hubs", "name": "lab"}) is None


def test_the_chart_ships_the_rules_as_a_prometheus_rule() -> None:
    helm = binaries.ensure(["helm"])["helm"]
    chart = REPO / "helm" / "communityhub-operator"
    done = subprocess.run([str(helm), "template", "x", str(chart), "--set", "prometheusRule.enabled=true",
                           "--set", "prometheusRule.labels.release=kps", "-s", "templates/prometheusrule.yaml"],
                          capture_output=True, text=True, timeout=60, check=True)
    rendered = yaml.safe_load(done.stdout)
    assert rendered["kind"] == "PrometheusRule" and rendered["metadata"]["labels"]["release"] == "kps"
    assert rendered["spec"] == yaml.safe_load(RULES.read_text())
    off = subprocess.run([str(helm), "template", "x", str(chart)], capture_output=True, text=True, timeout=60,
                         check=True)
    assert "PrometheusRule" not in off.stdout
