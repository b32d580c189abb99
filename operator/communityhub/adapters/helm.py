"""The helm CLI, driven as an async subprocess (never blocking the event loop), with a timeout.

Values and kubeconfigs go through files readable only by the operator, deleted right after use;
nothing secret is put on a command line. At most ``concurrency`` helm processes run at once, and a
chart from a repository is fetched once per version into a cache that every later run installs from.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from communityhub.runtime.metrics import HELM_COMMANDS, HELM_SECONDS, WAITING_FOR_SLOT


class HelmError(RuntimeError):
    """helm failed; ``summary`` is a one-line reason fit for a condition message."""

    def __init__(self, command: str, summary: str) -> None:
        super().__init__(f"helm {command}: {summary}")
        self.command = command
        self.summary = summary


@dataclasses.dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str


#: Added to every install and upgrade. Helm's "OpenAPI validation" of the rendered manifests does not validate them
#: against a server that supports server-side field validation (every Kubernetes since 1.27): kubectl's
#: ParamVerifyingSchema finds the server supports it and skips the client-side check, and helm then sends no
#: ``fieldValidation`` parameter, so the server warns (not refuses) as it would anyway. All it still does is fetch
#: and parse the server's OpenAPI v3 documents, which was half of helm's CPU per release (0.65 to 0.30 CPU-s for the
#: JupyterHub chart, measured). The values are still checked against the chart's values.schema.json, and the
#: server still validates every object. tests/integration/test_control_plane.py pins both facts for this helm.
SKIP_INERT_VALIDATION = "--disable-openapi-validation"

#: helm's words for a release that a killed helm left behind mid-operation.
IN_PROGRESS = "another operation (install/upgrade/rollback) is in progress"


@dataclasses.dataclass
class Helm:
    binary: str = "helm"
    timeout: float = 600.0
    concurrency: int = 8
    cache_dir: Path = dataclasses.field(default_factory=lambda: Path(tempfile.gettempdir()) / "communityhub-charts")
    _slots: asyncio.Semaphore | None = dataclasses.field(default=None, repr=False)
    _fetching: dict[tuple[str, str, str], asyncio.Lock] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    async def chart_archive(self, chart: str, version: str, repository: str) -> Path:
        """The chart's archive in the cache, fetched (index and chart) once per version, whoever asks first."""
        key = (repository, chart, version)
        directory = self.cache_dir / hashlib.sha256(repository.encode()).hexdigest()[:16]
        archive = directory / f"{chart}-{version}.tgz"
        async with self._fetching.setdefault(key, asyncio.Lock()):
            if not archive.is_file():
                directory.mkdir(parents=True, exist_ok=True)
                await self._run(["pull", chart, "--repo", repository, "--version", version,
                                 "--destination", str(directory)], None)
                HELM_COMMANDS.labels("pull", "ok").inc()
        return archive

    async def _write(self, args: list[str], kubeconfig: Path | None, slot: bool = True) -> bytes:
        """A command that changes a cluster, counted in communityhub_helm_commands_total."""
        try:
            out = await self._run(args, kubeconfig, slot)
        except HelmError:
            HELM_COMMANDS.labels(args[0], "error").inc()
            raise
        HELM_COMMANDS.labels(args[0], "ok").inc()
        return out

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        with WAITING_FOR_SLOT.labels("helm").track_inprogress():
            await self.slots.acquire()
        try:
            yield
        finally:
            self.slots.release()

    async def _run(self, args: list[str], kubeconfig: Path | None, slot: bool = True) -> bytes:
        """``slot`` False: the caller holds one already."""
        async with self._slot() if slot else contextlib.nullcontext():
            with HELM_SECONDS.labels(args[0]).time():
                return await self._run_now(args, kubeconfig)

    async def _run_now(self, args: list[str], kubeconfig: Path | None) -> bytes:
        cmd = [self.binary, *args]
        if kubeconfig is not None:
            cmd += ["--kubeconfig", str(kubeconfig)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "HELM_CACHE_HOME": os.environ.get("HELM_CACHE_HOME", tempfile.gettempdir() +
                                                                    "/communityhub-helm-cache")},
            )
        except FileNotFoundError as err:
            raise HelmError(args[0], f"helm binary {self.binary!r} not found (set CHUB_HELM)") from err
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise HelmError(args[0], f"timed out after {self.timeout:.0f}s") from None
        if proc.returncode != 0:
            raise HelmError(args[0], _summarize(stderr.decode(errors="replace")))
        return stdout

    async def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: str,
        values: dict[str, Any] | Callable[[], dict[str, Any]],
        *,
        version: str | None = None,
        repository: str | None = None,
        kubeconfig: Path | None = None,
        skip_crds: bool = False,
    ) -> Release:
        """``skip_crds``: the chart's CustomResourceDefinitions are not this release's (installed once per cluster).
        ``values`` may be a function that renders them: called once a helm slot is free, so the passes that wait
        for one (a whole fleet, at its first delivery) do not each hold their values meanwhile."""
        if repository:
            chart = str(await self.chart_archive(chart, version or "", repository))
        async with self._slot():
            rendered = values() if callable(values) else values
            async with _private_file(values_yaml(rendered), ".yaml") as values_file:
                del rendered
                args = ["upgrade", "--install", release, chart, "--namespace", namespace,
                        "--values", str(values_file), "--history-max", "5", "--output", "json",
                        SKIP_INERT_VALIDATION, *(["--skip-crds"] if skip_crds else []),
                        # An OCI reference is pulled by helm, at this version (an archive has its own).
                        *(["--version", version] if version and chart.startswith("oci://") else [])]
                out = await self._write(args, kubeconfig, slot=False)
        return _release(out)

    async def status(self, release: str, namespace: str, kubeconfig: Path | None = None) -> Release | None:
        try:
            out = await self._run(["status", release, "--namespace", namespace, "--output", "json"], kubeconfig)
        except HelmError as err:
            if "not found" in err.summary:
                return None
            raise
        return _release(out)

    async def uninstall(self, release: str, namespace: str, kubeconfig: Path | None = None) -> bool:
        """Uninstall; False when there was nothing to uninstall."""
        try:
            await self._write(["uninstall", release, "--namespace", namespace, "--wait", "--timeout", "5m"],
                            kubeconfig)
        except HelmError as err:
            if "not found" in err.summary:
                return False
            raise
        return True


def values_yaml(values: dict[str, Any]) -> str:
    """Values as helm reads them: UTF-8 text, not escapes (libyaml's dumper escapes astral characters,
    so this stays the pure-Python one: once per helm run, not per pass)."""
    return yaml.safe_dump(values, allow_unicode=True)


class _ReleaseDoc(msgspec.Struct, frozen=True):
    """What the operator reads of helm's ``--output json``: a few fields of a document of 650 KB for the JupyterHub
    chart (the chart's templates, schema and files, base64-encoded, and the manifest). Decoded straight from
    helm's bytes, the rest is skipped without being built: ``json.loads`` made 1.4 MB of objects of it, per helm
    run, in a heap that does not give them back (docs/benchmarks.md)."""

    class Info(msgspec.Struct, frozen=True):
        status: str = "unknown"

    class Chart(msgspec.Struct, frozen=True):
        class Metadata(msgspec.Struct, frozen=True):
            name: str = "?"
            version: str = "?"

        metadata: Metadata = Metadata()

    name: str
    namespace: str
    version: int
    info: Info = Info()
    chart: Chart = Chart()


def _release(out: bytes) -> Release:
    doc = msgspec.json.decode(out, type=_ReleaseDoc)
    return Release(name=doc.name, namespace=doc.namespace, revision=doc.version, status=doc.info.status,
                   chart=f"{doc.chart.metadata.name}-{doc.chart.metadata.version}")


def _summarize(stderr: str) -> str:
    """helm's error with the detail lines that follow it (a schema violation names the key there),
    without warnings, on one line bounded for a condition message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Error:")]
    if starts:
        lines = lines[starts[-1]:]
        lines[0] = lines[0].removeprefix("Error: ")
    text = " ".join(lines) if lines else "no output"
    return text[:500]


@contextlib.asynccontextmanager
async def _private_file(content: str, suffix: str) -> AsyncIterator[Path]:
    fd, name = tempfile.mkstemp(prefix="chub-", suffix=suffix)
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(content)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


@contextlib.asynccontextmanager
async def kubeconfig_file(content: str | None) -> AsyncIterator[Path | None]:
    """A kubeconfig for one command (None: the operator's own cluster)."""
    if content is None:
        yield None
        return
    async with _private_file(content, ".kubeconfig") as path:
        yield path
