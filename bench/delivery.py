"""Benchmarks: warm control-plane start, apply -> Available for a Deployment, apply -> Ready for a hub.

    .venv/bin/python bench/delivery.py [--runs N]

Uses its own control plane ("bench") and operator process; prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from localcluster import binaries, charts  # noqa: E402
from localcluster.controlplane import ControlPlane, default_nodes  # noqa: E402


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    exe = binaries.ensure(["kubectl"])["kubectl"]
    return subprocess.run([str(exe), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True,
                          text=True, check=True).stdout


def wait(check: Callable[[], bool], timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError


def summary(name: str, values: list[float]) -> None:
    print(f"{name}: median {statistics.median(values):.2f}s, min {min(values):.2f}s, max {max(values):.2f}s "
          f"over {len(values)} runs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    plane = ControlPlane("bench")
    plane.down()

    starts = []
    for _ in range(args.runs):
        t0 = time.monotonic()
        plane.up()
        starts.append(time.monotonic() - t0)
        plane.down()
    nodes = len(default_nodes())
    summary(f"warm control-plane start (etcd, apiserver, kcm, scheduler, kwok, {nodes} nodes Ready)", starts)

    kubeconfig = plane.up()
    available = []
    for i in range(args.runs):
        t0 = time.monotonic()
        kubectl(kubeconfig, "create", "deployment", f"web{i}", "--image=registry.example/web:1", "--replicas=2")
        wait(lambda i=i: json.loads(kubectl(kubeconfig, "get", "deployment", f"web{i}", "-o", "json"))
             .get("status", {}).get("availableReplicas") == 2)
        available.append(time.monotonic() - t0)
    summary("kubectl create deployment (2 replicas) -> Available", available)

    kubectl(kubeconfig, "create", "namespace", "communityhub-system")  # the operator's leader Lease lives there
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds" / "communityhub.yaml"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/communityhubs.hubs.2i2c.org")
    log = Path(tempfile.mkdtemp()) / "operator.log"
    chart = charts.jupyterhub_chart()
    print(f"hub chart: {chart.describe()}")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), **charts.operator_env(chart),
           "CHUB_HELM": str(binaries.ensure(["helm"])["helm"]), "CHUB_METRICS_PORT": "0", "CHUB_HEALTH_PORT": "0"}
    with log.open("wb") as out:
        operator = subprocess.Popen([sys.executable, "-m", "communityhub"], stdout=out, stderr=subprocess.STDOUT,
                                    env=env)
    try:
        time.sleep(3)
        example = list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))
        ready = []
        for i in range(args.runs):
            docs = []
            for doc in example:
                doc = json.loads(json.dumps(doc))
                if doc["kind"] != "Namespace":
                    doc["metadata"]["name"] = doc["metadata"]["name"].replace("climate-lab", f"lab{i}")
                if doc["kind"] == "CommunityHub":
                    doc["spec"]["auth"]["clientSecretRef"]["name"] = f"lab{i}-oauth"
                    doc["spec"]["hub"]["domain"] = f"lab{i}.example.org"
                docs.append(doc)
            t0 = time.monotonic()
            kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump_all(docs))

            def is_ready(i: int = i) -> bool:
                hub = json.loads(kubectl(kubeconfig, "-n", "hubs", "get", "chub", f"lab{i}", "-o", "json"))
                return any(c["type"] == "Ready" and c["status"] == "True"
                           for c in hub.get("status", {}).get("conditions", []))
            wait(is_ready)
            ready.append(time.monotonic() - t0)
        summary(f"kubectl apply CommunityHub (shared, local, {charts.NAME} {charts.VERSION}) -> Ready", ready)
    finally:
        operator.terminate()
        operator.wait()
        plane.down()


if __name__ == "__main__":
    main()
