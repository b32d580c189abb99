"""Gateway API's HTTPRoute CRD for the local plane, from the pinned module of the Go module proxy (its
config/crd/standard), as a cluster with a Gateway controller has it."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

from localcluster.versions import PINNED
from tests.support.kube import wait_for

MODULE = "sigs.k8s.io/gateway-api"


@functools.cache
def httproute_crd() -> Path:
    done = subprocess.run(["go", "mod", "download", "-json", f"{MODULE}@{PINNED['GATEWAY_API_VERSION']}"],
                          capture_output=True, text=True, check=True, timeout=300)
    path = Path(json.loads(done.stdout)["Dir"]) / "config" / "crd" / "standard" / \
        "gateway.networking.k8s.io_httproutes.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in {MODULE} {PINNED['GATEWAY_API_VERSION']}")
    return path


def established(cluster: Any, crd: str) -> None:
    """Wait until the API server serves a CRD just applied (its Established condition True). Polled: `kubectl wait`
    fails at once while the new CRD has no conditions yet."""
    def done() -> bool:
        found = cluster.get("crd", crd)
        return any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in ((found or {}).get("status") or {}).get("conditions") or [])
    wait_for(done, timeout=60, what=f"CRD {crd} established")


def install(cluster: Any) -> None:
    """HTTPRoute's CRD on the plane, served."""
    cluster.kubectl("apply", "--server-side", "-f", str(httproute_crd()))
    established(cluster, "httproutes.gateway.networking.k8s.io")
