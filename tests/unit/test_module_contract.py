"""The contract between the operator and its Terraform modules, checked by parsing the modules (python-hcl2):
no provider can be downloaded here, so `terraform validate` of the cloud modules cannot run, and this is what
keeps the operator's side right for the first engineer with a cloud account (issue 22, items 1, 2 and 4).

Seen failing on the code before it: the module folder was the cloud's name (gcp, aws, azure: no such
folders), the real clouds got an empty var.extra while gke reads project_id and billing_account_id and eks
and aks read budget_email, and aks's endpoint and CA outputs came from azurerm's sensitive kube_config
unmarked ("Output refers to sensitive values" at plan).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest

from communityhub.api.models import Dedicated
from communityhub.delivery import bucket_inputs, cluster_inputs
from tests.conftest import REPO

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a dev dependency (pyproject's dev extra)")

MODULES = REPO / "terraform" / "modules"
CLOUDS = typing.get_args(Dedicated.model_fields["cloud"].annotation)
#: Attributes a provider marks sensitive: an output derived from one must be marked sensitive itself.
SENSITIVE = re.compile(r"kube_config|kube_admin_config|google_client_config\.[a-z_]+\.access_token|"
                       r"aws_eks_cluster_auth\.[a-z_]+\.token")


def unquote(key: str) -> str:
    return key.strip('"')


def blocks(folder: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Every `kind` block ("variable", "output", "module") of the module's .tf files, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = body
    return found


def extra_keys_read(folder: Path) -> set[str]:
    return {m for path in folder.glob("*.tf") for m in re.findall(r'var\.extra\["([a-z_]+)"\]', path.read_text())}


def root_module(text: str = cluster_inputs.ROOT_MODULE, name: str = "cluster") -> dict[str, Any]:
    """The module block of a root the operator generates."""
    parsed = hcl2.loads(text % {"source": "./m"})
    return {unquote(k): v for block in parsed["module"] for k, v in block.items()}[name]


def check_variables(module_block: dict[str, Any], folder: Path) -> None:
    """Every variable the root passes is declared by the module, and every one it requires is passed."""
    passed = {k for k in module_block if k not in ("source", "__is_block__")}
    declared = blocks(folder, "variable")
    assert passed <= set(declared), f"passed but not declared: {passed - set(declared)}"
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= passed, f"required but not passed: {required - passed}"


def test_every_cloud_has_its_module() -> None:
    assert set(cluster_inputs.MODULES) == set(CLOUDS)
    for cloud in CLOUDS:
        assert (MODULES / cluster_inputs.MODULES[cloud] / "main.tf").is_file(), cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_variables_the_operator_passes_are_the_ones_the_module_declares(cloud: str) -> None:
    check_variables(root_module(), MODULES / cluster_inputs.MODULES[cloud])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_extra_key_a_module_reads_is_supplied(cloud: str) -> None:
    read = extra_keys_read(MODULES / cluster_inputs.MODULES[cloud])
    assert read <= set(cluster_inputs.EXTRA_SOURCES[cloud]), f"read but never supplied: {read}"
    supplied, _ = cluster_inputs.extra(Dedicated.model_validate({"cloud": cloud, "region": "r"}))
    assert set(supplied) == set(cluster_inputs.EXTRA_SOURCES[cloud])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_outputs_the_operator_reads_exist_and_sensitive_ones_are_marked(cloud: str) -> None:
    outputs = blocks(MODULES / cluster_inputs.MODULES[cloud], "output")
    assert set(cluster_inputs.OUTPUTS_READ) <= set(outputs)
    unmarked = [name for name, body in outputs.items()
                if SENSITIVE.search(str(body.get("value"))) and body.get("sensitive") is not True]
    assert unmarked == [], f"derived from a sensitive attribute, not marked: {unmarked}"
    root = {unquote(k): v for block in hcl2.loads(cluster_inputs.ROOT_MODULE % {"source": "./m"})["output"]
            for k, v in block.items()}
    for name, body in root.items():  # the root passes on the module's outputs, sensitive where the module's are
        assert name in outputs
        if outputs[name].get("sensitive") is True:
            assert body.get("sensitive") is True, f"root output {name} must be sensitive like the module's"


def test_a_missing_input_is_named_with_where_it_comes_from() -> None:
    gcp = Dedicated.model_validate({"cloud": "gcp", "region": "us-central1"})
    _, missing = cluster_inputs.extra(gcp)
    assert missing == ["spec.placement.dedicated.project or CHUB_GCP_PROJECT", "CHUB_GCP_BILLING_ACCOUNT"]
    values, missing = cluster_inputs.extra(gcp.model_copy(update={"project": "hub-project-1"}),
                                           gcp_billing_account="0X0X0X-0X0X0X-0X0X0X")
    assert missing == [] and values == {"project_id": "hub-project-1", "billing_account_id": "0X0X0X-0X0X0X-0X0X0X"}
    _, missing = cluster_inputs.extra(Dedicated.model_validate({"cloud": "aws", "region": "us-west-2"}))
    assert missing == ["CHUB_BUDGET_EMAIL"]


def test_the_check_catches_an_unmarked_sensitive_output(tmp_path: Path) -> None:
    (tmp_path / "outputs.tf").write_text(
        'output "endpoint" {\n  value = azurerm_kubernetes_cluster.hub.kube_config[0].host\n}\n')
    outputs = blocks(tmp_path, "output")
    assert SENSITIVE.search(str(outputs["endpoint"]["value"])) and outputs["endpoint"].get("sensitive") is not True


def dump(tmp_path: Path, example: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Path:
    from communityhub.cli import hubctl
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / example
    assert hubctl.main(["terraform-root", "-f", str(REPO / "examples" / f"{example}.yaml"), "--out", str(out)]) == 0
    return out


def test_hubctl_writes_the_root_and_variables_the_operator_would_run(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    out = dump(tmp_path, "dedicated-gcp", monkeypatch, CHUB_GCP_BILLING_ACCOUNT="000000-000000-000000")
    variables = json.loads((out / "terraform.tfvars.json").read_text())
    assert variables["extra"] == {"project_id": "ocean-lab-hubs", "billing_account_id": "000000-000000-000000"}
    assert variables["hub_name"].startswith("ocean-lab-") and variables["billing_account"] == "provider"
    assert str(MODULES.resolve() / "gke") in (out / "main.tf").read_text()
    assert 'backend "local"' in (out / "backend_override.tf").read_text()


def test_hubctl_refuses_a_root_with_an_input_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from communityhub.cli import hubctl
    monkeypatch.delenv("CHUB_BUDGET_EMAIL", raising=False)
    assert hubctl.main(["terraform-root", "-f", str(REPO / "examples" / "dedicated-aws.yaml"),
                        "--out", str(tmp_path)]) == 2
    assert "the aws module needs CHUB_BUDGET_EMAIL" in capsys.readouterr().err


def test_the_dumped_root_of_a_local_hub_plans_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local module uses Terraform's built-in resources only: its dumped root inits and plans here."""
    import subprocess

    from localcluster import binaries
    try:
        terraform = str(binaries.terraform())
    except binaries.BinaryUnavailable as err:
        pytest.skip(f"neither terraform nor OpenTofu can be had here: {err}")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: "
                          "{server: 'https://127.0.0.1:6443', certificate-authority-data: Y2E=}\ncontexts: []\n"
                          "users: []\n")
    out = dump(tmp_path, "dedicated-local", monkeypatch, CHUB_LOCAL_CLUSTER_KUBECONFIG=str(kubeconfig))
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path), "LOCAL_CLOUD_TOKEN": "t",
           "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    init = subprocess.run([terraform, "init", "-input=false", "-no-color"], cwd=out, env=env, capture_output=True,
                          text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    plan = subprocess.run([terraform, "plan", "-input=false", "-no-color"], cwd=out, env=env, capture_output=True,
                          text=True, timeout=120)
    assert plan.returncode == 0 and "to add" in plan.stdout, plan.stdout + plan.stderr


# ------------------------------------------------------------------- the bucket modules (spec.storage.buckets)
def test_every_cloud_has_its_bucket_module() -> None:
    assert set(bucket_inputs.MODULES) == set(CLOUDS)
    for cloud in CLOUDS:
        assert (MODULES / bucket_inputs.MODULES[cloud] / "main.tf").is_file(), cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_bucket_module_declares_what_the_operator_passes_and_returns_what_it_reads(cloud: str) -> None:
    folder = MODULES / bucket_inputs.MODULES[cloud]
    check_variables(root_module(bucket_inputs.ROOT_MODULE, "buckets"), folder)
    assert set(bucket_inputs.OUTPUTS_READ) <= set(blocks(folder, "output"))
    assert extra_keys_read(folder) <= set(bucket_inputs.EXTRA_SOURCES[cloud])
    # A retained bucket is forgotten by name before the destroy (steps.terraform_run.forget): the module's
    # buckets (and their own settings: encryption, lifecycle, public-access block) are the resources named "bucket".
    names = {body_name for path in folder.glob("*.tf")
             for block in hcl2.loads(path.read_text()).get("resource", [])
             for kind, by_name in block.items() for body_name in map(unquote, by_name)}
    assert "bucket" in names, f"the {cloud} bucket module names no resource 'bucket'"
