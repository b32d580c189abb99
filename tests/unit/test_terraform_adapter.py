from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from communityhub.adapters.terraform import TerraformRunner, base_env, parse_lock, plan_summary, summarize_error
from communityhub.delivery.policy import credential_env
from communityhub.runtime import sandbox

LOCKED = """\
\x1b[31m╷\x1b[0m
│ Error: Error acquiring the state lock
│
│ Error message: the state is already locked by another terraform client
│ Lock Info:
│   ID:        64f810d1-5625-c565-15a4-2b80fd866ee1
│   Path:
│   Operation: OperationTypeApply
│   Who:       root@vm
│   Version:   1.11.4
│   Created:   2026-11-23 20:46:05.948156911 +0000 UTC
│   Info:
╵
"""


def test_lock_info_is_parsed() -> None:
    lock = parse_lock(LOCKED)
    assert lock is not None
    assert lock.id == "64f810d1-5625-c565-15a4-2b80fd866ee1" and lock.who == "root@vm"
    assert lock.created == dt.datetime(2026, 11, 23, 20, 46, 5, 948156, tzinfo=dt.UTC)
    init_form = "Error: Error loading state: the state is already locked by another terraform client\nLock Info:\n" \
                "  ID:        abc\n  Who:       x@y\n  Created:   2026-11-23 20:46:05 +0000 UTC\n"
    assert parse_lock(init_form).id == "abc"  # type: ignore[union-attr]
    assert parse_lock("Error: Unsupported argument") is None


def test_error_summary_is_title_and_explanation() -> None:
    text = ("╷\n│ Error: Resource precondition failed\n│\n│   on main.tf line 3:\n│    3:   condition = x\n"
            "│     ├────────────────\n│     │ var.x is \"y\"\n│\n│ Unknown machine type y.\n╵\n"
            "╷\n│ Error: second error\n╵\n")
    assert summarize_error(text) == "Resource precondition failed: Unknown machine type y."
    assert summarize_error("plain failure text") == "plain failure text"


def test_plan_summary_counts_replacements_as_add_and_destroy() -> None:
    plan = {"resource_changes": [
        {"change": {"actions": ["create"]}}, {"change": {"actions": ["create"]}},
        {"change": {"actions": ["update"]}}, {"change": {"actions": ["delete", "create"]}},
        {"change": {"actions": ["no-op"]}}, {"change": {"actions": ["read"]}}]}
    summary = plan_summary(plan)
    assert (summary.add, summary.change, summary.destroy) == (3, 1, 1)
    assert str(summary) == "3 to add, 1 to change, 1 to destroy"
    assert plan_summary({}).empty


def test_credentials_cannot_rewrite_the_operators_terraform_environment(tmp_path: Path) -> None:
    """A credentials Secret with TF_* keys used to be applied after the operator's own variables."""
    env = base_env(tmp_path, {"TF_DATA_DIR": "/elsewhere", "TF_CLI_CONFIG_FILE": "/etc/x", "LOCAL_CLOUD_TOKEN": "t"})
    assert env["TF_DATA_DIR"] == str(tmp_path / ".terraform")
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "terraform.rc")
    assert env["LOCAL_CLOUD_TOKEN"] == "t"


def test_only_the_clouds_credential_keys_reach_terraform() -> None:
    refused = credential_env("gcp", {"GOOGLE_CREDENTIALS": b"{}", "TF_CLI_ARGS_init": b"-backend-config=x",
                                     "GOOGLE_APPLICATION_CREDENTIALS": b"/var/run/secrets/token"}, "hubs/cloud")
    assert not isinstance(refused, dict) and refused.reason == "CredentialsSecretInvalid"
    assert "GOOGLE_APPLICATION_CREDENTIALS, TF_CLI_ARGS_init" in refused.message and "-backend" not in refused.message
    assert credential_env("aws", {"AWS_ACCESS_KEY_ID": b"AKIASTANDIN0B7C", "AWS_SECRET_ACCESS_KEY": b"b/x+y"},
                          "s") == {"AWS_ACCESS_KEY_ID": "AKIASTANDIN0B7C", "AWS_SECRET_ACCESS_KEY": "b/x+y"}


#: What `terraform init` of the gke module printed on this machine (no provider registry in reach).
INIT_WITHOUT_REGISTRY = """
Initializing provider plugins...
- Finding hashicorp/google versions matching ">= 6.0.0, < 8.0.0"...

Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider
hashicorp/google: could not connect to registry.terraform.io: failed to
request discovery document: Get
"https://registry.terraform.io/.well-known/terraform.json": dial tcp: lookup
registry.terraform.io on 10.255.255.53:53: no such host

To see which modules are currently depending on hashicorp/google and what
versions are specified, run the following command:
    terraform providers
"""


def test_an_unreachable_provider_registry_is_said_as_such() -> None:
    from communityhub.adapters.terraform import registry_unreachable
    assert registry_unreachable(INIT_WITHOUT_REGISTRY) == "hashicorp/google: could not connect to registry.terraform.io"
    assert summarize_error(INIT_WITHOUT_REGISTRY) == (
        "providers cannot be installed: hashicorp/google: could not connect to registry.terraform.io")
    assert registry_unreachable("Error: Invalid index\n\nThe given key does not identify an element") is None


def test_a_state_that_records_no_resource_has_nothing_to_destroy() -> None:
    """What `terraform init` leaves in the kubernetes backend (seen on the local control plane), an applied one,
    and an unreadable one (then the destroy runs: the safe side)."""
    import gzip
    import json

    from communityhub.adapters.terraform import state_has_resources

    def state(resources: list[object]) -> dict[str, bytes]:
        return {"tfstate": gzip.compress(json.dumps({"version": 4, "serial": 1, "resources": resources}).encode())}
    assert state_has_resources(state([])) is False
    assert state_has_resources(state([{"type": "terraform_data", "name": "cluster"}])) is True
    assert state_has_resources({}) is False
    assert state_has_resources({"tfstate": b"not gzip"}) is None


# ------------------------------------------------------------------ issue 29, finding 3: what Terraform can read
READER = """
variable "path" { type = string }
variable "environ" { type = string }
output "read" { value = try(file(var.path), "unreadable") }
output "environ" { value = try(file(var.environ), "unreadable") }
output "elsewhere" { value = try(file(var.elsewhere), "unreadable") }
variable "elsewhere" { type = string }
"""


def _read_through_terraform(tmp_path: Path, hidden: tuple[str, ...], token: Path) -> dict[str, object]:
    """A module that reads the operator's token (and its environment, through /proc), run by the adapter with the
    real terraform binary (builtin functions only: no provider to download)."""
    workdir = tmp_path / "root"
    workdir.mkdir(exist_ok=True)
    (workdir / "main.tf").write_text(READER)
    other = tmp_path / "module-input.txt"
    other.write_text("an input the module may read")
    runner = TerraformRunner(workdir=workdir, binary=shutil.which("terraform") or "terraform",
                             env=base_env(workdir, {}), timeout=120, hidden=hidden,
                             variables={"path": str(token), "environ": f"/proc/{os.getpid()}/environ",
                                        "elsewhere": str(other)})

    async def run() -> dict[str, object]:
        await runner.init({})
        await runner.plan("read.tfplan")
        await runner.apply("read.tfplan")
        return await runner.outputs()

    return asyncio.run(run())


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform on PATH (make test has one)")
def test_a_module_reading_the_operators_token_gets_nothing(tmp_path: Path) -> None:
    """Terraform runs in the sandbox that hides the operator's ServiceAccount token directory (here a stand-in
    directory; in a pod /var/run/secrets/kubernetes.io/serviceaccount) and the operator's own /proc entries. Seen
    failing: without the sandbox (hidden=()) the module reads the token."""
    if sandbox.abi_version() < 1:
        pytest.skip(f"{sandbox.UNAVAILABLE}: the operator refuses to run Terraform here unless its sandbox is off")
    secrets = tmp_path / "serviceaccount"
    secrets.mkdir()
    token = secrets / "token"
    token.write_text("operator-token-7f3a")
    link = tmp_path / "innocent-link"
    link.symlink_to(secrets)
    open_run = _read_through_terraform(tmp_path, (), token)
    assert open_run["read"] == "operator-token-7f3a"  # what a module could read before
    hidden = _read_through_terraform(tmp_path, (str(secrets),), link / "token")
    assert hidden == {"read": "unreadable", "environ": "unreadable", "elsewhere": "an input the module may read"}


def test_the_sandbox_hides_what_it_is_told_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "hidden").mkdir()
    (tmp_path / "kept").mkdir()
    roots = sandbox.readable_roots([str(tmp_path / "hidden")])
    assert str(tmp_path / "kept") in roots and not any(r.startswith(str(tmp_path / "hidden")) for r in roots)
    assert "/proc/meminfo" in roots and not any(r.startswith("/proc/1/") or r == "/proc/1" for r in roots)
    assert "/usr" in roots
