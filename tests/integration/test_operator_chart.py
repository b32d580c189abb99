"""The operator's own Helm chart, rendered with every option and checked by the real API server
(server-side dry run), and its environment checked against the operator's settings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.settings import Settings
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
