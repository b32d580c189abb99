"""Gateway API's HTTPRoute CRD for the local plane, from the pinned module of the Go module proxy (its
config/crd/standard), as a cluster with a Gateway controller has it."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from localcluster.versions import PINNED

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
