"""The operator image, built here with buildah (``make image``), and the operator chart packaged, installed
and upgraded: the image's own operator, started with the installed Deployment's command and environment,
delivers a hub.

kwok runs no containers, so the image runs the way a container would without a runtime: its root is
mounted (``buildah mount``) and its entrypoint started in it with ``chroot`` as its user (10001), with
the Deployment's environment and the chart's ServiceAccount. The chart goes onto the workload control
plane, which has no operator of its own: its ClusterRoles, admission policy and CRD are the chart's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import charts
from localcluster.controlplane import free_port
from localcluster.versions import PINNED
from tests.conftest import OPERATOR_CHART, REPO, OperatorProcess, oauth_secret, token_kubeconfig
from tests.support.hubs import RUN, hub_manifest, ns, wait_ready
from tests.support.kube import Cluster, wait_for

BUILDAH = shutil.which("buildah")
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"  # the host's: the image's PATH does not have it
pytestmark = [
    pytest.mark.integration,
    pytest.mark.image,
    pytest.mark.skipif(BUILDAH is None or os.geteuid() != 0,
                       reason="building and running the image needs buildah and root: `make image-tools` installs "
                              "buildah and debootstrap from Debian's packages (make test does, as root)"),
]
IMAGE = "localhost/communityhub-operator:test"
CRD_NAME = "communityhubs.hubs.2i2c.org"
LOCK = REPO / "hack" / "requirements.lock"


@dataclasses.dataclass
class ImageRoot:
    name: str
    container: str
    root: Path
    config: dict[str, Any]

    def run(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        chroot = [CHROOT, *([f"--userspec={user}"] if user else []), str(self.root)]
        return subprocess.run([*chroot, *args], capture_output=True, text=True, timeout=120,
                              env=self.environment())

    def environment(self) -> dict[str, str]:
        return dict(entry.split("=", 1) for entry in self.config.get("Env") or [])


def buildah(*args: str) -> str:
    result = subprocess.run([str(BUILDAH), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def image() -> Iterator[ImageRoot]:
    build = subprocess.run([str(REPO / "hack" / "image" / "build.sh")], capture_output=True, text=True,
                           env={**os.environ, "IMAGE": IMAGE}, timeout=3000)
    assert build.returncode == 0, f"make image failed:\n{build.stderr[-6000:]}"
    assert build.stdout.strip().splitlines()[-1] == IMAGE
    config = json.loads(buildah("inspect", "--type", "image", IMAGE))["OCIv1"]["config"]
    container = buildah("from", "--pull-never", "--quiet", IMAGE)
    root = Path(buildah("mount", container))
    mounted = []
    try:
        for sub in ("proc", "dev"):  # what a container runtime would give it
            subprocess.run(["mount", "--bind", f"/{sub}", str(root / sub)], check=True)
            mounted.append(root / sub)
        yield ImageRoot(IMAGE, container, root, config)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(path)], check=False)
        buildah("umount", container)
        buildah("rm", container)


def test_the_image_runs_as_its_user_with_the_pinned_tools_and_packages(image: ImageRoot) -> None:
    assert image.config["User"] == "10001" and image.config["Entrypoint"] == ["communityhub-operator"]
    helm = image.run("helm", "version", "--template", "{{.Version}}", user="10001:10001")
    assert helm.returncode == 0 and helm.stdout.strip() == PINNED["HELM_VERSION"], helm.stderr
    tofu = image.run("tofu", "version", user="10001:10001")
    assert tofu.returncode == 0 and f"OpenTofu {PINNED['OPENTOFU_VERSION']}" in tofu.stdout, tofu.stderr
    python = image.run("python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    assert python.stdout.strip() == PINNED["PYTHON_VERSION"]

    listed = image.run("python", "-c", "import importlib.metadata as m, json; print(json.dumps("
                                       "{d.metadata['Name']: d.version for d in m.distributions()}))")
    assert listed.returncode == 0, listed.stderr
    installed = {normalize(name): version for name, version in json.loads(listed.stdout).items()}
    pinned = lock()
    assert {name: installed.get(name) for name in pinned} == pinned  # every pinned package, at its pin
    assert set(installed) - set(pinned) <= {"communityhub-operator", "setuptools"}  # and nothing unpinned
    assert image.run("aws", "--version").returncode == 0  # the EKS module's kubeconfig runs `aws eks get-token`
    for module in ("gke", "eks", "aks", "local"):
        assert (image.root / "app" / "terraform" / "modules" / module / "main.tf").is_file()
    # No build tools in the final stage.
    assert not (image.root / "usr" / "local" / "go").exists()
    assert not (image.root / "app" / "venv" / "bin" / "pip").exists()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalize(name)] = version.strip()
    return pins


def helm(helm_bin: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm_bin), "--kubeconfig", str(cluster.kubeconfig), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
    return result


def crd_spec_fields(cluster: Cluster) -> set[str]:
    crd = cluster.get("crd", CRD_NAME)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["spec"]["properties"])


def package(helm_bin: Path, chart: Path, out: Path) -> Path:
    result = subprocess.run([str(helm_bin), "package", str(chart), "-d", str(out)], capture_output=True, text=True,
                            check=True)
    return Path(result.stdout.strip().rsplit(" ", 1)[-1])


def previous_chart(helm_bin: Path, tmp_path: Path) -> Path:
    """The chart as the release before this one shipped it: its CRD without spec.lifecycle."""
    old = tmp_path / "old" / OPERATOR_CHART.name
    shutil.copytree(OPERATOR_CHART, old)
    chart = yaml.safe_load((old / "Chart.yaml").read_text())
    chart["version"] = "0.0.9"
    (old / "Chart.yaml").write_text(yaml.safe_dump(chart))
    crd = yaml.safe_load((old / "crds" / "communityhub.yaml").read_text())
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["lifecycle"]
    (old / "crds" / "communityhub.yaml").write_text(yaml.safe_dump(crd))
    return package(helm_bin, old, tmp_path / "old")


def resolve_env(container: dict[str, Any], namespace: str, pod: str) -> dict[str, str]:
    """The container's environment as the kubelet would give it (the Downward API fields the chart uses)."""
    fields = {"metadata.namespace": namespace, "metadata.name": pod}
    env = {}
    for entry in container["env"]:
        if "valueFrom" in entry:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        else:  # the API server leaves out an empty value
            env[entry["name"]] = entry.get("value", "")
    return env


def test_the_packaged_chart_installs_upgrades_its_crd_and_its_image_delivers_a_hub(
        workload: Cluster, image: ImageRoot, helm_bin: Path, hub_chart: charts.HubChart, tmp_path: Path) -> None:
    namespace, tenant = f"chub-image-{RUN}", ns("team-image")
    # Nothing else puts the CRDs or a release here; a kept cluster may have what an interrupted run left.
    workload.kubectl("delete", "crd", CRD_NAME, f"fleetrollouts.{CRD_NAME.split('.', 1)[1]}", "--ignore-not-found")
    workload.kubectl("create", "namespace", tenant, check=False)
    inside = Path("/tmp/chub")  # the chart archive and kubeconfig, where the pod's emptyDir /tmp would have them
    values = ["--set", "replicas=1", "--set", "settings.chartRepository=", "--set",
              f"settings.chartName={inside / hub_chart.archive.name}", "--set", "settings.hubHealthProbe=false",
              "--set", "settings.servingCheck=false",  # kwok's pods serve nobody: no probe, no serving check
              "--set", "settings.resyncSeconds=5", "--set", f"settings.metricsPort={free_port()}",
              "--set", f"settings.healthPort={free_port()}", "--set", f"tenantNamespaces={{{tenant}}}"]

    operator: OperatorProcess | None = None
    try:
        # The release before this one: its CRD has no spec.lifecycle.
        helm(helm_bin, workload, "install", "chub", str(previous_chart(helm_bin, tmp_path)), "-n", namespace,
             "--create-namespace", *values)
        assert "lifecycle" not in crd_spec_fields(workload)
        # helm upgrade to this chart, packaged: Helm leaves crds/ alone on upgrades...
        packaged = package(helm_bin, OPERATOR_CHART, tmp_path)
        helm(helm_bin, workload, "upgrade", "chub", str(packaged), "-n", namespace, "--reuse-values")
        assert "lifecycle" not in crd_spec_fields(workload)
        # ...so the README's upgrade step applies the new chart's CRD first.
        crds = helm(helm_bin, workload, "show", "crds", str(packaged)).stdout
        workload.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=crds)
        assert "lifecycle" in crd_spec_fields(workload)
        notes = helm(helm_bin, workload, "get", "notes", "chub", "-n", namespace).stdout
        assert "helm show crds" in notes and "tenantNamespaces" in notes

        # The operator the installed Deployment describes: its image's entrypoint, its environment, its account.
        deployment = workload.get("deployment", "communityhub-operator", namespace)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        app_version = yaml.safe_load((OPERATOR_CHART / "Chart.yaml").read_text())["appVersion"]
        assert container["image"].endswith(f":{app_version}")
        env = resolve_env(container, namespace, "communityhub-operator-0")
        (image.root / "tmp" / "chub").mkdir(parents=True, exist_ok=True)
        shutil.copy(hub_chart.archive, image.root / "tmp" / "chub" / hub_chart.archive.name)
        kubeconfig = token_kubeconfig(workload, "communityhub-operator", namespace,
                                      image.root / "tmp" / "chub" / "kubeconfig")
        for path in (image.root / "tmp" / "chub").rglob("*"):
            os.chown(path, 10001, 10001)
        os.chown(image.root / "tmp" / "chub", 10001, 10001)
        command = [CHROOT, "--userspec=10001:10001", str(image.root),
                   *image.config["Entrypoint"], *(container.get("args") or [])]
        operator = OperatorProcess(kubeconfig, tmp_path / "image-operator.log", env, command=command,
                                   base_env=image.environment())
        operator.kubeconfig = inside / "kubeconfig"  # KUBECONFIG as the process inside the root sees it
        operator.start()
        workload.apply(oauth_secret("imaged-oauth", tenant))
        workload.apply(hub_manifest("imaged", tenant, lifecycle={"inactiveDays": 30}))
        obj = wait_ready(workload, "imaged", tenant, timeout=240)
        hub_namespace = obj["status"]["names"]["namespace"]
        releases = json.loads(helm(helm_bin, workload, "list", "-n", hub_namespace, "-o", "json").stdout)
        assert [(r["chart"], r["status"]) for r in releases] == [(f"jupyterhub-{charts.VERSION}", "deployed")]
        assert operator.alive() and "Traceback" not in operator.log()
        workload.kubectl("-n", tenant, "delete", "communityhub", "imaged", "--timeout=180s")
        wait_for(lambda: workload.get("namespace", hub_namespace) is None, timeout=120,
                 what="the hub's namespace to go")
    finally:
        if operator is not None:
            operator.stop()
            print(f"image operator log: {operator.log_path}")
        subprocess.run([str(helm_bin), "--kubeconfig", str(workload.kubeconfig), "uninstall", "chub", "-n",
                        namespace], capture_output=True, check=False)
        workload.kubectl("delete", "crd", CRD_NAME, f"fleetrollouts.{CRD_NAME.split('.', 1)[1]}", "--ignore-not-found")
        workload.kubectl("delete", "namespace", namespace, tenant, "--wait=false", check=False)
