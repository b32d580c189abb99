"""What users of a hub get, read off the JupyterHub chart's own hub configuration (for ``hubctl import``'s
equivalence report and its tests).

``helm template`` renders the real chart with the given values; the hub's ConfigMap and Secret it makes are
laid out as the hub pod mounts them, with the environment its Deployment gives the hub container (Secret
references it cannot resolve get placeholders), and ``hubconfig_probe.py`` loads ``jupyterhub_config.py`` with
the hub image's software (a Python environment built from its pinned requirements) in a private mount
namespace. Nothing reaches a Kubernetes API or a cloud.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from communityhub.adapters.helm import values_yaml

PROBE = Path(__file__).with_name("hubconfig_probe.py")
#: Where ``make hubenv`` builds the hub image's software (override with CHUB_HUB_PYTHON).
DEFAULT_HUB_PYTHON = Path.home() / ".cache" / "communityhub-operator" / "hubenv-4.4.0" / "bin" / "python"
def placeholder(variable: str) -> str:
    """What a variable from a Secret the probe cannot read holds: its own value (two Secrets' keys are not the same,
    as a shared password's user and admin passwords must not be), long enough for any length rule."""
    return f"placeholder-of-{variable.lower()}".ljust(40, "-")
#: The Kubernetes version helm template renders for (the chart requires >= 1.28).
KUBE_VERSION = "1.36.0"
#: A kubeconfig that names no reachable server: KubeSpawner loads one at start, the probe never calls it.
NOWHERE_KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "probe",
    "clusters": [{"name": "probe", "cluster": {"server": "http://127.0.0.1:9"}}],
    "contexts": [{"name": "probe", "context": {"cluster": "probe", "user": "probe"}}],
    "users": [{"name": "probe", "user": {}}]})


class ProbeError(RuntimeError):
    """The chart or its hub configuration refused the values (helm's or JupyterHub's words)."""


#: The fleet's own hub software (the chart's, plus what the fleet's hub image adds): today's side of a move.
DEFAULT_FLEET_PYTHON = DEFAULT_HUB_PYTHON.parents[2] / "hubenv-fleet" / "bin" / "python"


def hub_python(fleet: bool = False) -> Path:
    """The Python of the chart's hub image (``fleet``: of the fleet's own hub image, for today's side)."""
    variable, default = ("CHUB_FLEET_HUB_PYTHON", DEFAULT_FLEET_PYTHON) if fleet else \
        ("CHUB_HUB_PYTHON", DEFAULT_HUB_PYTHON)
    path = Path(os.environ.get(variable) or default)
    if not path.is_file():
        raise ProbeError(f"no hub environment at {path}: run `make hubenv` (or set {variable})")
    return path


def helm_binary() -> str:
    return os.environ.get("CHUB_HELM") or "helm"


def chart_objects(values: dict[str, Any], chart: Path, release: str = "hub",
                  namespace: str = "hub") -> list[dict[str, Any]]:
    """The objects the chart makes for these values (``helm template``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(values_yaml(values))
        f.flush()
        done = subprocess.run([helm_binary(), "template", release, str(chart), "--namespace", namespace,
                               "--kube-version", KUBE_VERSION, "--values", f.name], capture_output=True, text=True)
    if done.returncode != 0:
        raise ProbeError(f"helm template refused the values: {done.stderr.strip()[-2000:]}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _find(objects: Sequence[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels", {})
        if obj.get("kind") == kind and labels.get("component") == component:
            return obj
    raise ProbeError(f"the chart made no {kind} of component {component}")


def _secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


class HubPod:
    """What the hub pod is given, from the chart's objects: its ConfigMap's and Secret's files and its
    container's environment."""

    def __init__(self, objects: Sequence[dict[str, Any]]) -> None:
        self.objects = objects
        secret = _find(objects, "Secret", "hub")
        self.secret_name: str = secret["metadata"]["name"]
        self.secret = _secret_data(secret)
        self.config: dict[str, str] = _find(objects, "ConfigMap", "hub")["data"]
        self.container = _find(objects, "Deployment", "hub")["spec"]["template"]["spec"]["containers"][0]

    def env(self, namespace: str) -> dict[str, str]:
        """The hub container's environment: its Deployment's variables (the chart's Secret resolved, other
        Secrets and ConfigMaps as placeholders) and the Service variables Kubernetes adds."""
        env: dict[str, str] = {}
        for service in (o for o in self.objects if o.get("kind") == "Service"):
            prefix = service["metadata"]["name"].upper().replace("-", "_")
            env[f"{prefix}_SERVICE_HOST"] = "127.0.0.1"
            env[f"{prefix}_SERVICE_PORT"] = str(service["spec"]["ports"][0]["port"])
        for var in self.container.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            source = var.get("valueFrom") or {}
            ref = source.get("secretKeyRef")
            if ref and ref.get("name") == self.secret_name and ref.get("key") in self.secret:
                env[var["name"]] = self.secret[ref["key"]]
            elif "fieldRef" in source and source["fieldRef"].get("fieldPath") == "metadata.namespace":
                env[var["name"]] = namespace
            else:
                env[var["name"]] = placeholder(var["name"])
        return env

    def lay_out(self, root: Path) -> None:
        """The files the hub pod mounts at /usr/local/etc/jupyterhub, under ``root``."""
        (root / "config").mkdir(parents=True)
        (root / "secret").mkdir()
        for key, text in self.config.items():
            (root / "config" / key).write_text(text)
        for name in ("jupyterhub_config.py", "z2jh.py"):
            (root / name).write_text(self.config[name])
        for key, text in self.secret.items():
            (root / "secret" / key).write_text(text)


def probe(values: dict[str, Any], chart: Path, users: Sequence[dict[str, Any]], namespace: str = "hub",
          timeout: float = 120, fleet: bool = False) -> dict[str, Any]:
    """What ``users`` (``{"name", "admin", "groups"}``) get from a hub deployed with ``values`` (the chart's
    values, not a wrapper's): see hubconfig_probe.py. ``fleet``: in the fleet's hub software."""
    pod = HubPod(chart_objects(values, chart, namespace=namespace))
    with tempfile.TemporaryDirectory(prefix="chub-probe-") as tmp:
        work = Path(tmp)
        pod.lay_out(work / "etc")
        (work / "kubeconfig").write_text(NOWHERE_KUBECONFIG)
        env = {**pod.env(namespace), "KUBECONFIG": str(work / "kubeconfig"), "HOME": tmp}
        (work / "request.json").write_text(json.dumps({"env": env, "users": list(users)}))
        command = ["unshare", "--mount", "--propagation", "private", str(hub_python(fleet)), "-I", str(PROBE),
                   str(work)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}, cwd=tmp)
    if done.returncode != 0 or "@@probe@@" not in done.stdout:
        raise ProbeError(f"the chart's hub configuration did not load: {done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.rsplit("@@probe@@", 1)[1])
