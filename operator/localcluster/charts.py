"""The real JupyterHub chart for the tests, the demo and the benchmarks.

Offline machines have the upstream release packaged in ``../shared/charts/`` (beside the project),
used as is; elsewhere the same version is pulled once from the official repository into the cache.
Either way the chart is never copied into the project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path

from localcluster import binaries
from localcluster.versions import PINNED

REPOSITORY = "https://hub.jupyter.org/helm-chart/"
NAME = "jupyterhub"
VERSION = PINNED["JUPYTERHUB_CHART_VERSION"]
#: sha256 of the upstream 4.4.0 package (see ../shared/charts/README.md).
SHA256 = "504f1872ec464e8958f06e05395bbae5743d8770ba1bda69f65dbba1b9378f48"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "charts" / f"{NAME}-{VERSION}.tgz"


@dataclasses.dataclass(frozen=True)
class HubChart:
    archive: Path
    source: str  # where it came from, for the output

    def describe(self) -> str:
        return f"{NAME} {VERSION} from {self.source}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archive(name: str, version: str, repository: str, sha256: str) -> tuple[Path, bool]:
    """A chart archive: ../shared/charts when present (checked against its digest), else pulled once into the
    cache; and whether it came from ../shared."""
    shared = SHARED.parent / f"{name}-{version}.tgz"
    if shared.is_file():
        digest = _sha256(shared)
        if digest != sha256:
            raise RuntimeError(f"{shared} has sha256 {digest}, not the upstream release's {sha256}")
        return shared, True
    target = binaries.cache_root() / "charts" / f"{name}-{version}.tgz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        helm = binaries.ensure(["helm"])["helm"]
        subprocess.run([str(helm), "pull", name, "--repo", repository, "--version", version,
                        "--destination", str(target.parent)], check=True, capture_output=True, text=True)
    return target, False


def jupyterhub_chart() -> HubChart:
    """The JupyterHub chart archive (see _archive)."""
    archive, shared = _archive(NAME, VERSION, REPOSITORY, SHA256)
    return HubChart(archive, str(archive) if shared else f"{REPOSITORY} (pulled into {archive.parent})")


@dataclasses.dataclass(frozen=True)
class Upstream:
    """A chart of an upstream Helm repository, at the version and digest of ../shared/charts (its README)."""

    name: str
    version: str
    repository: str
    sha256: str

    def archive(self) -> Path:
        """The chart archive (see _archive)."""
        return _archive(self.name, self.version, self.repository, self.sha256)[0]


DASK = Upstream("dask-gateway", "2026.3.0", "https://helm.dask.org",
                "268add84cdd29b9af1d4325340a4f437fd94428bff6a5c56a5976735e4af8d86")
#: binderhub-service at the commit the leading fleet pins.
BINDER = Upstream("binderhub-service", "0.1.0-0.dev.git.336.hca79dc0", "https://2i2c.org/binderhub-service/",
                  "ef4d133cb028b12e1613e215a84fc70f611df3cffd871528f9a36f18483803ed")


def dask_gateway_chart() -> Path:
    return DASK.archive()


def binder_chart() -> Path:
    return BINDER.archive()


def dask_controller_args(chart: Path, namespace: str = "dask-gateway-system") -> list[str]:
    """helm arguments of the provider's one Dask Gateway install per cluster: the chart's CRDs and its controller
    (cluster-wide, the provider's); no gateway of its own (0 replicas, no ServiceAccount or ClusterRole for one)
    and no Traefik: each daskhub brings its own, namespaced (communityhub.delivery.dask)."""
    return ["upgrade", "--install", "dask-gateway", str(chart), "--namespace", namespace, "--create-namespace",
            "--set", "gateway.replicas=0", "--set", "rbac.gateway.serviceAccountName=none",
            "--set", "traefik.installTraefik=false", "--wait", "--timeout", "5m"]


HOME_NFS_REPOSITORY = "oci://ghcr.io/2i2c-org/jupyterhub-home-nfs"
HOME_NFS_NAME = "jupyterhub-home-nfs"
HOME_NFS_VERSION = "1.2.1-0.dev.git.1.h1c81b4b"
#: sha256 of the upstream package at the version the leading fleet pins (see ../shared/charts/README.md).
HOME_NFS_SHA256 = "553260286965bcfc777013ff6757d729862c7b7925f811cddfbda8c1649999b5"


def home_nfs_chart() -> Path:
    """The jupyterhub-home-nfs chart archive: ../shared/charts, else pulled from its OCI registry into the cache."""
    shared = SHARED.parent / f"{HOME_NFS_NAME}-{HOME_NFS_VERSION}.tgz"
    if shared.is_file():
        return _archive(HOME_NFS_NAME, HOME_NFS_VERSION, "", HOME_NFS_SHA256)[0]
    target = binaries.cache_root() / "charts" / f"{HOME_NFS_NAME}-{HOME_NFS_VERSION}.tgz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        helm = binaries.ensure(["helm"])["helm"]
        subprocess.run([str(helm), "pull", f"{HOME_NFS_REPOSITORY}/{HOME_NFS_NAME}", "--version", HOME_NFS_VERSION,
                        "--destination", str(target.parent)], check=True, capture_output=True, text=True)
    return target


def operator_env(chart: HubChart) -> dict[str, str]:
    """The operator's settings on the local control plane: this archive instead of the repository, and no
    probe of the hubs' /hub/health and no serving check (kwok's pods do not run, so no hub would answer)."""
    return {"CHUB_CHART_REPOSITORY": "", "CHUB_CHART_NAME": str(chart.archive), "CHUB_CHART_VERSION": VERSION,
            "CHUB_HUB_HEALTH_PROBE": "false", "CHUB_SERVING_CHECK": "false",
            "CHUB_DASK_CHART_REPOSITORY": "", "CHUB_DASK_CHART_NAME": str(dask_gateway_chart()),
            "CHUB_HOME_NFS_CHART_REPOSITORY": "", "CHUB_HOME_NFS_CHART_NAME": str(home_nfs_chart()),
            "CHUB_BINDER_CHART_REPOSITORY": "", "CHUB_BINDER_CHART_NAME": str(binder_chart())}
