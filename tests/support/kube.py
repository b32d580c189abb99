"""Test helpers around a real cluster: kubectl, waiting on conditions, counting writes in the audit log."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


@dataclasses.dataclass
class Cluster:
    name: str
    kubeconfig: Path
    kubectl_bin: Path
    audit_log: Path | None = None  # None for a cluster the project did not start

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                as_user: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.kubectl_bin), f"--kubeconfig={self.kubeconfig}", *args]
        if as_user:
            cmd.append(f"--as={as_user}")
        # kubectl's own --timeout=<N>s (a delete that waits for finalizers) plus a margin, else two minutes.
        waits = [float(a.removeprefix("--timeout=").removesuffix("s")) for a in args if a.startswith("--timeout=")]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=max([120, *waits]) + 30)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> None:
        if not isinstance(manifest, str):
            docs = manifest if isinstance(manifest, list) else [manifest]
            manifest = yaml.safe_dump_all(docs)
        self.kubectl("apply", "-f", "-", input=manifest)

    def get(self, kind: str, name: str | None = None, namespace: str | None = None,
            selector: str | None = None) -> Any:
        args = ["get", kind, "-o", "json"]
        if name:
            args.insert(2, name)
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        result = self.kubectl(*args, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def audit_mark(self) -> int:
        """Where the audit log ends now: pass it to writes_since()."""
        assert self.audit_log is not None
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def writes_since(self, mark: int, user: str) -> list[dict[str, Any]]:
        """Every create/update/patch/delete by ``user`` logged after ``mark``."""
        assert self.audit_log is not None
        with self.audit_log.open("rb") as handle:
            handle.seek(mark)
            entries = [json.loads(line) for line in handle if line.strip()]
        return [e for e in entries if e.get("user", {}).get("username") == user
                and e.get("verb") in ("create", "update", "patch", "delete", "deletecollection")]


def wait_for(check: Callable[[], Any], timeout: float = 90.0, interval: float = 0.5, what: str = "") -> Any:
    """Poll until check() returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}; last value: {last!r}")


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    if not obj:
        return None
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), None)


BUILD_POOL_LABEL = ("hubs.2i2c.org/node-pool", "build")


def build_node(name: str, **labels: str) -> dict[str, Any]:
    """A kwok node of a build pool (HubClass binder.buildPool: hubs.2i2c.org/node-pool=build, and ``labels``),
    tainted as a user node is: BinderHub's build pods tolerate that taint only."""
    key, value = BUILD_POOL_LABEL
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "n2-standard-4", key: value,
                **labels},
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}


def wait_node_ready(cluster: Cluster, name: str) -> None:
    wait_for(lambda: any(c["type"] == "Ready" and c["status"] == "True" for c in
                         (cluster.get("node", name) or {}).get("status", {}).get("conditions", [])),
             timeout=60, what=f"node {name} Ready")
