"""Find or build the pinned binaries the local control plane needs.

Order of preference for each binary: an environment variable naming it (``CHUB_KUBE_APISERVER``
for ``kube-apiserver``), a directory named by ``CHUB_BIN_DIR``, the ``PATH``, the build cache, and
last a build from the Go module proxy through the wrapper modules under ``hack/tools``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from localcluster.versions import PINNED

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "hack" / "tools"

KUBERNETES_VERSION = PINNED["KUBERNETES_VERSION"]
_K8S_VERSION_LDFLAGS = " ".join(
    f"-X {pkg}.{key}={value}"
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    for key, value in (
        ("gitVersion", KUBERNETES_VERSION),
        ("gitMajor", "1"),
        ("gitMinor", KUBERNETES_VERSION.split(".")[1]),
        ("gitTreeState", "clean"),
    )
)


@dataclasses.dataclass(frozen=True)
class Tool:
    """One wrapper module under hack/tools and the commands it builds."""

    name: str
    version: str
    packages: dict[str, str]  # binary name -> Go package
    ldflags: str = ""

    @property
    def module_dir(self) -> Path:
        return TOOLS_DIR / self.name

    @property
    def cache_dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"


TOOLS: tuple[Tool, ...] = (
    Tool("etcd", PINNED["ETCD_VERSION"], {"etcd": "."}),
    Tool(
        "kubernetes",
        KUBERNETES_VERSION,
        {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        },
        _K8S_VERSION_LDFLAGS,
    ),
    Tool("kwok", PINNED["KWOK_VERSION"], {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}),
    Tool("helm", PINNED["HELM_VERSION"], {"helm": "helm.sh/helm/v3/cmd/helm"},
         f"-X helm.sh/helm/v3/internal/version.version={PINNED['HELM_VERSION']}"),
    Tool("kubectl", KUBERNETES_VERSION, {"kubectl": "k8s.io/kubernetes/cmd/kubectl"}, _K8S_VERSION_LDFLAGS),
    # Prometheus' own rule checker and unit tester, for the chart's alert rules (tests only).
    Tool("prometheus", PINNED["PROMETHEUS_VERSION"], {"promtool": "github.com/prometheus/prometheus/cmd/promtool"}),
    # Built only where no `terraform` is on PATH; the operator accepts either binary.
    Tool("opentofu", PINNED["OPENTOFU_VERSION"], {"tofu": "github.com/opentofu/opentofu/cmd/tofu"},
         "-X github.com/opentofu/opentofu/version.dev=no"),
)
# kubectl shares the kubernetes wrapper module.
_MODULE_OF = {"kubectl": "kubernetes"}

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class BinaryUnavailable(RuntimeError):
    """A binary could neither be found nor built; the message says how to get it."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "communityhub-operator" / "bin"


def env_var(binary: str) -> str:
    return "CHUB_" + binary.upper().replace("-", "_")


def tool_of(binary: str) -> Tool:
    for tool in TOOLS:
        if binary in tool.packages:
            return tool
    raise KeyError(binary)


def _given(binary: str) -> Path | None:
    """A binary the user supplied: env var, CHUB_BIN_DIR, or PATH."""
    if value := os.environ.get(env_var(binary)):
        path = Path(value)
        if not path.is_file():
            raise BinaryUnavailable(f"{env_var(binary)}={value} does not name a file")
        return path
    if bin_dir := os.environ.get("CHUB_BIN_DIR"):
        path = Path(bin_dir) / binary
        if path.is_file():
            return path
    found = shutil.which(binary)
    return Path(found) if found else None


def find(binary: str) -> Path | None:
    """Where the binary is, without building it."""
    given = _given(binary)
    if given:
        return given
    cached = tool_of(binary).cache_dir / binary
    return cached if cached.is_file() else None


def build(tool: Tool, binaries: list[str], log: bool = True) -> None:
    """Build the given binaries of one tool into its cache directory."""
    go = shutil.which("go")
    if go is None:
        raise BinaryUnavailable(
            f"cannot build {', '.join(binaries)}: Go is not installed. Install Go >= 1.26 (the binaries are "
            f"built from the Go module proxy), or point {env_var(binaries[0])} / CHUB_BIN_DIR at prebuilt ones."
        )
    tool.cache_dir.mkdir(parents=True, exist_ok=True)
    module_dir = TOOLS_DIR / _MODULE_OF.get(tool.name, tool.name)
    packages = [tool.packages[b] for b in binaries]
    tmp_dir = tool.cache_dir / f".build-{os.getpid()}"
    tmp_dir.mkdir(exist_ok=True)
    cmd = [go, "build", "-ldflags", f"-s -w {tool.ldflags}".strip(), "-o", f"{tmp_dir}/", *packages]
    if len(packages) == 1:
        cmd[-2:] = [str(tmp_dir / binaries[0]), packages[0]]
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    started = time.monotonic()
    if log:
        print(f"building {', '.join(binaries)} {tool.version} (first time only; cached in {tool.cache_dir})",
              file=sys.stderr, flush=True)
    result = subprocess.run(cmd, cwd=module_dir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise BinaryUnavailable(
            f"building {', '.join(binaries)} failed (cd {module_dir} && {' '.join(cmd)}):\n{result.stderr[-4000:]}"
        )
    for binary in binaries:  # rename into place: a half-written binary is never picked up
        os.replace(tmp_dir / binary, tool.cache_dir / binary)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    if tool.name == "kwok":
        write_kwok_stages(tool, module_dir, env)
    if log:
        print(f"built {', '.join(binaries)} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def kwok_stages_file() -> Path:
    """kwok's config with its Stages; CHUB_KWOK_CONFIG names one of the user's own."""
    if value := os.environ.get("CHUB_KWOK_CONFIG"):
        return Path(value)
    return tool_of("kwok").cache_dir / "stages.yaml"


def write_kwok_stages(tool: Tool, module_dir: Path, env: dict[str, str]) -> None:
    """kwok needs its Stage objects in a config file: take upstream's "fast" stages from the pinned module."""
    result = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=module_dir, env=env, capture_output=True, text=True, check=True,
    )
    src = Path(result.stdout.strip()) / "kustomize" / "stage"
    parts = [
        src / "node" / "fast" / "node-initialize.yaml",
        src / "node" / "heartbeat-with-lease" / "node-heartbeat-with-lease.yaml",
        src / "pod" / "fast" / "pod-ready.yaml",
        src / "pod" / "fast" / "pod-complete.yaml",
        src / "pod" / "fast" / "pod-delete.yaml",
    ]
    # Stages only: a KwokConfiguration document here would replace kwok's defaults rather than extend them.
    text = "---\n".join(p.read_text() for p in parts)
    kwok_stages_file().write_text(text)


def terraform() -> Path:
    """terraform from PATH (or CHUB_TERRAFORM), else OpenTofu, built from the module proxy if need be."""
    if value := os.environ.get("CHUB_TERRAFORM"):
        return Path(value)
    found = shutil.which("terraform")
    if found:
        return Path(found)
    return ensure(["tofu"])["tofu"]


def ensure(binaries: list[str] | tuple[str, ...]) -> dict[str, Path]:
    """Paths of the binaries, building (once, cached) those that are missing."""
    missing: dict[str, list[str]] = {}
    for binary in binaries:
        if find(binary) is None:
            missing.setdefault(tool_of(binary).name, []).append(binary)
    by_name = {tool.name: tool for tool in TOOLS}
    for tool_name, names in missing.items():
        build(by_name[tool_name], names)
    if "kwok" in binaries and not kwok_stages_file().is_file() and not os.environ.get("CHUB_KWOK_CONFIG"):
        tool = tool_of("kwok")
        write_kwok_stages(tool, tool.module_dir, {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"})
    paths = {}
    for binary in binaries:
        path = find(binary)
        if path is None:  # pragma: no cover - build() raises first
            raise BinaryUnavailable(f"{binary} is still missing after the build")
        paths[binary] = path
    return paths
