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


def jupyterhub_chart() -> HubChart:
    """The chart archive: ../shared/charts when present (checked against its digest), else pulled."""
    if SHARED.is_file():
        digest = _sha256(SHARED)
        if digest != SHA256:
            raise RuntimeError(f"{SHARED} has sha256 {digest}, not the upstream release's {SHA256}")
        return HubChart(SHARED, str(SHARED))
    target = binaries.cache_root() / "charts" / f"{NAME}-{VERSION}.tgz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        helm = binaries.ensure(["helm"])["helm"]
        subprocess.run([str(helm), "pull", NAME, "--repo", REPOSITORY, "--version", VERSION,
                        "--destination", str(target.parent)], check=True, capture_output=True, text=True)
    return HubChart(target, f"{REPOSITORY} (pulled into {target.parent})")


def operator_env(chart: HubChart) -> dict[str, str]:
    """The operator's settings on the local control plane: this archive instead of the repository, and no
    probe of the hubs' /hub/health (kwok's pods do not run, so no hub would answer)."""
    return {"CHUB_CHART_REPOSITORY": "", "CHUB_CHART_NAME": str(chart.archive), "CHUB_CHART_VERSION": VERSION,
            "CHUB_HUB_HEALTH_PROBE": "false"}
