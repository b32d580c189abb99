"""The operator's own Helm chart, rendered with every option and checked by the real API server
(server-side dry run), and its environment checked against the operator's settings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.runtime.settings import Settings
from tests.conftest import OPERATOR_CHART
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration

VALUES = {
    "caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "priceCatalog": {"gcp": {"us-central1": {"n2-standard-4": 0.19}}},
    "settings": {"smtp": {"host": "smtp.example.org", "credentialsSecret": "smtp-login"}, "meterSeconds": 0},
    "extraEnv": [{"name": "CHUB_DEFAULT_CLOUD", "value": "aws"}],
}


def render(helm_bin: Path, tmp_path: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    out = subprocess.run([str(helm_bin), "template", "chub", str(OPERATOR_CHART), "--namespace", "chub-chart-test",
                          "-f", str(tmp_path / "values.yaml")], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_every_option_renders_valid_objects_and_known_settings(management: Cluster, helm_bin: Path,
                                                               tmp_path: Path) -> None:
    docs = render(helm_bin, tmp_path, VALUES)
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    settings = [name for name in env if name != "POD_NAME"]  # POD_NAME: the leader Lease's holder (leader.py)
    unknown = [name for name in settings if name.removeprefix("CHUB_").lower() not in Settings.model_fields]
    assert unknown == []  # a typo in the chart would be silently ignored by the operator
    # POD_NAME is read by leader.identity() (tests/unit/test_leader.py)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    config_maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    for env_name, volume, key in (("CHUB_EXTRA_CA_FILE", "ca-bundle", "ca.crt"),
                                  ("CHUB_PRICE_CATALOG", "prices", "prices.yaml")):
        assert env[env_name] == f"{mounts[volume]}/{key}"
        assert key in config_maps[volumes[volume]]
    assert config_maps["communityhub-operator-ca"]["ca.crt"] == VALUES["caBundle"]
    assert env["CHUB_METER_SECONDS"] == "0" and env["CHUB_SMTP_HOST"] == "smtp.example.org"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert {"checksum/ca-bundle", "checksum/prices"} <= set(annotations)  # a changed bundle restarts the pod

    management.kubectl("create", "namespace", "chub-chart-test", check=False)
    result = management.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr


def test_defaults_mount_nothing_extra(helm_bin: Path, tmp_path: Path) -> None:
    docs = render(helm_bin, tmp_path, {})
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not {"CHUB_EXTRA_CA_FILE", "CHUB_PRICE_CATALOG"} & env
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"] == []


def test_lint_is_clean_and_a_typo_fails_at_install(helm_bin: Path, tmp_path: Path) -> None:
    lint = subprocess.run([str(helm_bin), "lint", "--strict", str(OPERATOR_CHART)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({"settings": {"resyncSecond": 30}}))
    typo = subprocess.run([str(helm_bin), "template", "chub", str(OPERATOR_CHART), "-f", str(tmp_path / "typo.yaml")],
                          capture_output=True, text=True)
    assert typo.returncode != 0 and "resyncSecond" in typo.stderr  # values.schema.json refuses it by name
    wrong = subprocess.run([str(helm_bin), "template", "chub", str(OPERATOR_CHART), "--set", "replicas=0"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "replicas" in wrong.stderr


def test_it_runs_locked_down_with_probes_a_budget_and_optional_monitoring(management: Cluster, helm_bin: Path,
                                                                          tmp_path: Path) -> None:
    docs = render(helm_bin, tmp_path, {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}})
    kinds = {d["kind"]: d for d in docs}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["limits"]["memory"]
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    monitor = kinds["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = kinds["Service"]
    assert all(service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    single = render(helm_bin, tmp_path, {"replicas": 1})
    assert "PodDisruptionBudget" not in {d["kind"] for d in single}  # one replica: a budget would block drains
    # The ServiceMonitor aside (its CRD is Prometheus Operator's), the API server takes every object.
    management.kubectl("create", "namespace", "chub-chart-test", check=False)
    objects = [d for d in docs if d["kind"] != "ServiceMonitor"]
    result = management.kubectl("apply", "--dry-run=server", "-n", "chub-chart-test", "-f", "-",
                                input=yaml.safe_dump_all(objects), check=False)
    assert result.returncode == 0, result.stderr
