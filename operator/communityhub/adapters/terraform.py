"""Terraform (or OpenTofu) through python-terraform, behind an adapter that fixes what it gets wrong.

python-terraform 0.10 builds the command lines (option defaults, ``-var-file`` for variables,
``-backend-config`` pairs), but three of its behaviours do not fit current Terraform or an async
operator, so this adapter works around them:

- ``Terraform.output()`` adds ``-input=false``/``-no-color`` defaults that ``terraform output`` may
  reject, and for a named output it reads a ``value`` key that ``output -json NAME`` does not have:
  outputs are read with a plain ``output -json`` and parsed here.
- ``destroy()`` passes ``-force``, which Terraform >= 0.15 removed: ``-auto-approve`` is used.
- ``cmd()`` blocks until Terraform exits, and its ``synchronous=False`` mode leaks a bogus
  ``-synchronous=false`` flag into the command: commands are run here as asyncio subprocesses, off
  the event loop, with a timeout that stops Terraform gracefully (SIGTERM lets it release the state
  lock and persist state) before killing it.

Secrets (cloud credentials) reach Terraform only through its environment, never through files.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from communityhub.runtime import sandbox
from communityhub.runtime.metrics import TERRAFORM_COMMANDS, TERRAFORM_SECONDS

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BOX = re.compile(r"^\s*[│╷╵├─]+\s?")


class TerraformError(RuntimeError):
    def __init__(self, command: str, summary: str, output: str = "") -> None:
        super().__init__(f"terraform {command}: {summary}")
        self.command, self.summary, self.output = command, summary, output


@dataclasses.dataclass(frozen=True)
class Lock:
    id: str
    created: dt.datetime | None
    who: str


class ProvidersUnavailable(TerraformError):
    """init cannot install the module's providers: the registry (or mirror) is out of reach."""


class StateLocked(TerraformError):
    def __init__(self, command: str, lock: Lock, output: str) -> None:
        super().__init__(command, f"the state is locked by {lock.who} since {lock.created} (lock {lock.id})", output)
        self.lock = lock


@dataclasses.dataclass(frozen=True)
class PlanSummary:
    add: int
    change: int
    destroy: int

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.destroy)

    def __str__(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


#: terraform init's words when it cannot reach a provider registry: which provider, and why.
_REGISTRY = re.compile(r"(?:list of available versions|versions) for\s+provider\s+(\S+?):?\s+(could not connect to "
                       r"\S+?):", re.S)


def registry_unreachable(text: str) -> str | None:
    """The provider and registry, when init failed only because the provider registry cannot be reached."""
    clean = " ".join(_ANSI.sub("", text).split())
    found = _REGISTRY.search(clean)
    return f"{found.group(1)}: {found.group(2)}" if found else None


def summarize_error(text: str) -> str:
    """Terraform's first ``Error:`` on one line: its title and its last paragraph (the explanation,
    which Terraform prints after the source snippet), without colours or box drawing; a provider registry
    that cannot be reached is said as such (its last paragraph only says how to list the providers)."""
    if unreachable := registry_unreachable(text):
        return f"providers cannot be installed: {unreachable}"
    lines = [_BOX.sub("", _ANSI.sub("", ln)).rstrip() for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Error:")), None)
    if start is None:
        return " ".join(ln.strip() for ln in lines if ln.strip())[-500:] or "no output"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("Error:")), len(lines))
    paragraphs: list[list[str]] = [[]]
    for ln in lines[start:end]:
        if ln.strip():
            paragraphs[-1].append(ln.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [p for p in paragraphs if p]
    title = paragraphs[0][0].removeprefix("Error: ")
    detail = " ".join(paragraphs[-1]) if len(paragraphs) > 1 else " ".join(paragraphs[0][1:])
    return f"{title}: {detail}"[:500] if detail else title[:500]


def state_has_resources(data: Mapping[str, bytes]) -> bool | None:
    """Whether a kubernetes backend's state Secret (its data, decoded: the gzipped ``tfstate``) records any
    resource; None when it cannot be read. `terraform init` leaves an empty state behind, so a cluster whose
    init never got its providers has a state with nothing in it, and nothing to destroy."""
    raw = data.get("tfstate")
    if not raw:
        return False
    try:
        state = json.loads(gzip.decompress(raw))
    except (OSError, ValueError, EOFError):
        return None
    return bool(state.get("resources")) if isinstance(state, dict) else None


def parse_lock(text: str) -> Lock | None:
    clean = _ANSI.sub("", text)
    if "Error acquiring the state lock" not in clean and "state is already locked" not in clean:
        return None
    fields = dict(re.findall(r"^\W*(ID|Who|Created):\s+(.+?)\s*$", clean, re.MULTILINE))
    created = None
    if "Created" in fields:
        with contextlib.suppress(ValueError):
            created = dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", fields["Created"].split(" +")[0]))
            created = created.replace(tzinfo=dt.UTC)
    return Lock(fields.get("ID", ""), created, fields.get("Who", "unknown"))


def plan_summary(plan_json: dict[str, Any]) -> PlanSummary:
    add = change = destroy = 0
    for rc in plan_json.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if actions == ["create"]:
            add += 1
        elif actions == ["update"]:
            change += 1
        elif actions == ["delete"]:
            destroy += 1
        elif sorted(actions) == ["create", "delete"]:  # replace
            add += 1
            destroy += 1
    return PlanSummary(add, change, destroy)


@dataclasses.dataclass
class TerraformRunner:
    """Runs one working directory's commands; one instance per hub run."""

    workdir: Path
    binary: str
    env: dict[str, str]
    timeout: float
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Paths Terraform may not read (runtime/sandbox.py); empty: no sandbox.
    hidden: tuple[str, ...] = ()

    def _tf(self) -> Terraform:
        return Terraform(working_dir=str(self.workdir), terraform_bin_path=self.binary, variables=self.variables,
                         is_env_vars_included=False)

    async def _run(self, cmd: list[str], command: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
        try:
            with TERRAFORM_SECONDS.labels(command).time():
                result = await self._run_now(cmd, command, ok_codes)
        except TerraformError:
            TERRAFORM_COMMANDS.labels(command, "error").inc()
            raise
        TERRAFORM_COMMANDS.labels(command, "ok").inc()
        return result

    async def _run_now(self, cmd: list[str], command: str, ok_codes: tuple[int, ...]) -> tuple[int, str]:
        argv = sandbox.command(self.hidden, cmd) if self.hidden else cmd
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=self.workdir, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=self.timeout)
        except (TimeoutError, asyncio.CancelledError) as err:
            await _stop(proc)
            if isinstance(err, asyncio.CancelledError):
                raise
            raise TerraformError(command, f"timed out after {self.timeout:.0f}s and was stopped") from None
        text = out.decode(errors="replace")
        if proc.returncode not in ok_codes:
            lock = parse_lock(text)
            if lock is not None:
                raise StateLocked(command, lock, text)
            error = ProvidersUnavailable if registry_unreachable(text) else TerraformError
            raise error(command, summarize_error(text), text)
        return int(proc.returncode or 0), text

    def _cmd(self, tf: Terraform, name: str, *args: str, **options: Any) -> list[str]:
        return list(tf.generate_cmd_string(name, *args, **options))

    async def init(self, backend_config: dict[str, str]) -> None:
        tf = self._tf()
        options = tf._generate_default_options(  # python-terraform's own defaults for init
            # -lock=false: init changes no state here, and a stale lock must not stop it (plan meets the lock,
            # and a stale one is taken over there).
            {"backend_config": backend_config, "reconfigure": IsFlagged, "backend": True, "var": None,
             "lock": False})
        await self._run(self._cmd(tf, "init", **options), "init")

    async def plan(self, plan_file: str, destroy: bool = False) -> PlanSummary:
        tf = self._tf()
        options = tf._generate_default_options(
            {"detailed_exitcode": IsFlagged, "out": plan_file, "destroy": IsFlagged if destroy else IsNotFlagged})
        await self._run(self._cmd(tf, "plan", **options), "plan", ok_codes=(0, 2))
        _, shown = await self._run(self._cmd(tf, "show", plan_file, json=IsFlagged, no_color=IsFlagged), "show")
        return plan_summary(json.loads(shown))

    async def apply(self, plan_file: str) -> None:
        tf = self._tf()
        # A saved plan carries its variables; passing -var-file again is an error.
        options = tf._generate_default_options({"var": None, "auto_approve": IsFlagged})
        await self._run(self._cmd(tf, "apply", plan_file, **options), "apply")

    async def destroy(self) -> None:
        tf = self._tf()
        options = tf._generate_default_options({"auto_approve": IsFlagged})  # not python-terraform's -force
        await self._run(self._cmd(tf, "destroy", **options), "destroy")
        for leftover in self.workdir.glob("*.tfvars.json"):
            leftover.unlink()

    async def state_list(self) -> list[str]:
        _, text = await self._run([self.binary, "state", "list"], "state list")
        return [line.strip() for line in text.splitlines() if line.strip()]

    async def state_rm(self, addresses: list[str]) -> None:
        """Terraform forgets these resources (they stay in the cloud, untouched)."""
        if addresses:
            await self._run([self.binary, "state", "rm", *addresses], "state rm")

    async def outputs(self) -> dict[str, Any]:
        tf = self._tf()
        _, text = await self._run([tf.terraform_bin_path, "output", "-json"], "output")
        return {name: entry.get("value") for name, entry in json.loads(text or "{}").items()}


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM first: Terraform then stops cleanly, persists state and releases its lock."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def base_env(workdir: Path, credentials: dict[str, str]) -> dict[str, str]:
    """A minimal environment: no inherited cloud credentials, only what this run is given; the operator's own
    variables are set last, so credentials can never change how Terraform runs."""
    # Not the operator's KUBECONFIG: the state backend is given its own (steps/terraform_run.backend_config).
    keep = ("PATH", "HOME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
            "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "NO_PROXY", "TMPDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(credentials)
    cli_config = workdir / "terraform.rc"
    if not cli_config.exists():
        cli_config.write_text("")  # no user-level CLI config, no warning about a missing one
    env.update({
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_DATA_DIR": str(workdir / ".terraform"),
    })
    return env
