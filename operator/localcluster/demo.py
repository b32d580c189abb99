"""``make demo``: a control plane, the CRD, the operator in the background, and an example hub
watched until it is Ready. ``make demo-down`` stops all of it.

Hubs are the real JupyterHub chart (``localcluster.charts``: ../shared/charts when present, else the
official repository). A second control plane stands for a dedicated cluster: a ``cloud: local`` hub
(``make demo-dedicated``) gets it through Terraform's local module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from localcluster import binaries, charts, processpods
from localcluster.controlplane import ControlPlane, _pid_alive, state_root

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "climate-lab.yaml"
DEDICATED_EXAMPLE = REPO / "examples" / "dedicated-local.yaml"
#: The provider's default platform layer: hubs without spec.hubClassName get it.
DEFAULT_CLASS = REPO / "examples" / "hubclasses" / "basehub.yaml"
#: A workshop that really serves, on the process nodes of its class.
SERVING_CLASS = REPO / "examples" / "hubclasses" / "process-pods.yaml"
WORKSHOP = REPO / "examples" / "workshop-local.yaml"
CLUSTER = "dev"
#: The control plane that `cloud: local` hubs get as their "dedicated" cluster.
DEDICATED_CLUSTER = "dev-dedicated"


def demo_dir() -> Path:
    return state_root() / "demo"


def _kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    kubectl = binaries.ensure(["kubectl"])["kubectl"]
    result = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result


def _operator_env(kubeconfig: Path, chart: charts.HubChart, dedicated_kubeconfig: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        **charts.operator_env(chart),
        "CHUB_HELM": str(binaries.ensure(["helm"])["helm"]),
        "CHUB_TERRAFORM": str(binaries.terraform()),
        "CHUB_TERRAFORM_WORKDIR": str(demo_dir() / "terraform"),
        "CHUB_LOCAL_CLUSTER_KUBECONFIG": str(dedicated_kubeconfig),
        "CHUB_RESYNC_SECONDS": "30",
        "CHUB_METRICS_PORT": os.environ.get("CHUB_METRICS_PORT", "18080"),
        "CHUB_HEALTH_PORT": "0",
    }


SMTP_PORT = int(os.environ.get("CHUB_DEMO_SMTP_PORT", "2525"))


def mail_dir() -> Path:
    return demo_dir() / "mail"


def _start_background(name: str, argv: list[str], env: dict[str, str]) -> tuple[int, Path]:
    """Start a process in its own session, remembered by a pid file; reuse it when it still runs."""
    directory = demo_dir()
    directory.mkdir(parents=True, exist_ok=True)
    pid_file, log_file = directory / f"{name}.pid", directory / f"{name}.log"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _pid_alive(pid, sys.executable):
            return pid, log_file
    log = log_file.open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    log.close()
    pid_file.write_text(str(proc.pid))
    return proc.pid, log_file


def start_smtp_sink() -> int:
    """A local SMTP server (aiosmtpd) that keeps every message it gets in a Maildir."""
    for sub in ("new", "cur", "tmp"):  # a Maildir; aiosmtpd makes one only where the directory is missing
        (mail_dir() / sub).mkdir(parents=True, exist_ok=True)
    pid, _ = _start_background("smtp", [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}",
                                        "-c", "aiosmtpd.handlers.Mailbox", str(mail_dir())], dict(os.environ))
    return pid


def start_operator(kubeconfig: Path, chart: charts.HubChart, dedicated_kubeconfig: Path,
                   pod_network_proxy: str | None = None) -> tuple[int, Path]:
    """With ``pod_network_proxy`` (process pods run), the serving check is on, reaching the hubs through it."""
    checking = {"CHUB_SERVING_CHECK": "true", "CHUB_CLUSTER_HTTP_PROXY": pod_network_proxy} if pod_network_proxy \
        else {}
    env = {**_operator_env(kubeconfig, chart, dedicated_kubeconfig), **checking,
           "CHUB_SMTP_HOST": "127.0.0.1", "CHUB_SMTP_PORT": str(SMTP_PORT),
           "CHUB_SMTP_STARTTLS": "false", "CHUB_SMTP_FROM": "CommunityHub demo <hubs@localhost>",
           "CHUB_SUPPORT_URL": "https://support.example.org"}
    # Supervised: the operator exits by design when it loses its Lease, and here no kubelet starts it again.
    return _start_background("operator", [sys.executable, "-m", "localcluster.supervise", "--",
                                          sys.executable, "-m", "communityhub"], env)


def delivered_mail(since: float, timeout: float = 30) -> list[Path]:
    """The DELIVERED emails the sink received after ``since`` (a time.time())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [f for f in (mail_dir() / "new").glob("*") if f.stat().st_mtime >= since - 1]
        if found:
            return sorted(found)
        time.sleep(0.5)
    return []


def watch(kubeconfig: Path, namespace: str, name: str, timeout: float = 300, until: str = "Ready") -> dict[str, Any]:
    """Print each condition as it changes until ``until`` (Ready) is True."""
    seen: dict[str, tuple[str, str]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _kubectl(kubeconfig, "-n", namespace, "get", "communityhub", name, "-o", "json", check=False)
        if result.returncode == 0:
            hub = json.loads(result.stdout)
            for cond in hub.get("status", {}).get("conditions", []):
                if cond["type"] in ("Reconciling", "Stalled"):  # kstatus's, derived from Ready
                    continue
                key = (cond["status"], cond["reason"])
                if seen.get(cond["type"]) != key:
                    seen[cond["type"]] = key
                    print(f"  {cond['type']:<17} {cond['status']:<8} {cond['reason']:<24} {cond['message']}",
                          flush=True)
            ready = next((c for c in hub.get("status", {}).get("conditions", []) if c["type"] == until), None)
            if ready and ready["status"] == "True":
                return dict(hub)
        time.sleep(0.5)
    raise TimeoutError(f"{namespace}/{name} was not {until} after {timeout:.0f}s; see {demo_dir() / 'operator.log'}")


OPERATOR_CHART = REPO / "helm" / "communityhub-operator"


def install_policies(kubeconfig: Path) -> list[str]:
    """The operator chart's RBAC and tenancy objects (templates/rbac.yaml and tenancy.yaml: the admission policies
    that keep the provider's fields, annotations and labels the provider's and the operator in its namespaces, the
    provider and tenant roles, Terraform's state account), rendered by helm as a release would be; the names of
    the policies applied."""
    helm = binaries.ensure(["helm"])["helm"]
    rendered = subprocess.run([str(helm), "template", "chub", str(OPERATOR_CHART), "--namespace", "communityhub-system",
                               "--show-only", "templates/rbac.yaml", "--show-only", "templates/tenancy.yaml"],
                              capture_output=True, text=True, check=True)
    kubectl = binaries.ensure(["kubectl"])["kubectl"]
    subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"], input=rendered.stdout,
                   capture_output=True, text=True, check=True)
    return [doc["metadata"]["name"] for doc in yaml.safe_load_all(rendered.stdout)
            if doc and doc.get("kind") == "ValidatingAdmissionPolicy"]


def up() -> int:
    started = time.monotonic()
    print("1/5 local control plane, and a second one for dedicated (cloud: local) hubs", flush=True)
    plane = ControlPlane(CLUSTER)
    kubeconfig = plane.up()
    dedicated_kubeconfig = ControlPlane(DEDICATED_CLUSTER, region="local-1").up()
    chart = charts.jupyterhub_chart()
    print(f"    hub chart: {chart.describe()}", flush=True)
    crds = sorted((REPO / "crds").glob("*.yaml"))
    print(f"2/5 CRDs ({', '.join(p.name for p in crds)} from {REPO / 'crds'}) and the default HubClass "
          f"({DEFAULT_CLASS.relative_to(REPO)})", flush=True)
    _kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    _kubectl(kubeconfig, "wait", "--for=condition=Established", "-f", str(REPO / "crds"), "--timeout=60s")
    _kubectl(kubeconfig, "apply", "-f", str(DEFAULT_CLASS))
    # kwok's pods run nothing: the default class's hubs cannot serve anyone, so they are not checked here.
    _kubectl(kubeconfig, "patch", "hubclass", "basehub", "--type=merge", "-p",
             json.dumps({"spec": {"servingCheck": {"enabled": False}}}))
    # The operator's namespace: its leader Lease (and Terraform state) live there.
    _kubectl(kubeconfig, "create", "namespace", "communityhub-system", check=False)
    # Who may set what (docs/operations.md, "Security model"): the chart's admission policies, as installed.
    print(f"    and the operator chart's admission policies ({', '.join(install_policies(kubeconfig))})", flush=True)
    # The provider's credentials for `cloud: local` clusters (make demo-dedicated): the local module refuses to
    # create a cluster without them, as a cloud's API does.
    _kubectl(kubeconfig, "-n", "communityhub-system", "create", "secret", "generic", "communityhub-cloud-local",
             "--from-literal=LOCAL_CLOUD_TOKEN=demo-provider-token", check=False)
    # Process pods (the workshop's hub, proxy and servers as real processes), before the operator: it checks the
    # hubs that serve through the agent's proxy into the pod network.
    serving = processpods.available()
    proxy = None
    if serving is None:
        processpods.start(plane)
        proxy = processpods.proxy_url(plane)
    smtp_pid = start_smtp_sink()
    pid, log = start_operator(kubeconfig, chart, dedicated_kubeconfig, proxy)
    print(f"3/5 operator running in the background, started again if it exits (supervisor pid {pid}), "
          f"log: {log}", flush=True)
    print(f"    SMTP sink for the DELIVERED email on 127.0.0.1:{SMTP_PORT} (pid {smtp_pid}), Maildir {mail_dir()}",
          flush=True)
    applied_at = time.time()
    print(f"4/5 applying {EXAMPLE.relative_to(REPO)} and watching climate-lab:", flush=True)
    _kubectl(kubeconfig, "apply", "-f", str(EXAMPLE))
    watch(kubeconfig, "hubs", "climate-lab")
    print(f"\nclimate-lab is Ready ({time.monotonic() - started:.0f}s in all).\n", flush=True)
    print(_kubectl(kubeconfig, "get", "communityhubs", "-A").stdout)
    status = _kubectl(kubeconfig, "-n", "hubs", "get", "communityhub", "climate-lab", "-o",
                      "jsonpath={.status}").stdout
    print("status:", json.dumps(json.loads(status), indent=2))
    print(f"\nExplore it:\n  export KUBECONFIG={kubeconfig}\n  kubectl get chub -A\n"
          f"  kubectl -n {json.loads(status)['cluster']['namespace']} get deploy,svc,ingress\n"
          f"  tail -f {log}\nA dedicated hub (cloud: local, through Terraform): make demo-dedicated\n"
          f"Stop everything with: make demo-down")
    mails = delivered_mail(applied_at)
    if mails:
        print(f"\nThe DELIVERED email landed in the demo's SMTP sink: {mails[-1]}\n  less {mails[-1]}")
    else:
        print(f"\nNo DELIVERED email yet (see the Delivered condition); the sink keeps mail in {mail_dir()}/new")
    return serve(plane)


def serve(plane: ControlPlane) -> int:
    """A workshop that serves: its hub, proxy and users' servers run as processes (process pods); print the URL
    that reaches its proxy from the host, and what it answers."""
    if why := processpods.available():
        print(f"\nNo hub that serves here: {why}.")
        return 0
    nodes = processpods.start(plane)
    kubeconfig = plane.kubeconfig
    print(f"\n5/5 process pods on {', '.join(nodes)}; applying {SERVING_CLASS.relative_to(REPO)} and "
          f"{WORKSHOP.relative_to(REPO)}, watching workshop:", flush=True)
    _kubectl(kubeconfig, "apply", "-f", str(SERVING_CLASS))
    _kubectl(kubeconfig, "apply", "-f", str(WORKSHOP))
    hub = watch(kubeconfig, "workshops", "workshop")
    namespace = hub["status"]["cluster"]["namespace"]
    port = _kubectl(kubeconfig, "-n", namespace, "get", "service", "proxy-public", "-o",
                    "jsonpath={.spec.ports[?(@.name=='http')].nodePort}").stdout.strip()
    url = f"http://127.0.0.1:{port}/"
    title = "no answer"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "hub/login", timeout=10) as resp:
                page = resp.read().decode(errors="replace")
                title = page.split("<title>", 1)[-1].split("</title>", 1)[0].strip() if "<title>" in page else "?"
                break
        except OSError:
            time.sleep(1)
    checked = next((c for c in hub["status"].get("conditions", []) if c["type"] == "ServingUsers"), None)
    if checked is not None:
        print(f"\nThe operator's serving check: ServingUsers {checked['status']} {checked['reason']}: "
              f"{checked['message']}")
    print(f"\nworkshop serves (its login page answers: {title!r}). Open it in a browser:\n  {url}\n"
          f"Each visitor signs in with a temporary account (one click) and lands in JupyterLab, served by a real "
          f"user server "
          f"(kubectl -n {namespace} get pods -o wide).\nLogs of its processes: {plane.dir / 'logs' / 'process-pods'}")
    # climate-lab was delivered on kwok's nodes, where nothing runs: its class moves its hubs onto the process nodes
    # (the placement of the serving class) and turns the serving check on, as a provider changes a class.
    serving_class = yaml.safe_load(SERVING_CLASS.read_text())["spec"]
    print(f"\nclimate-lab's class (basehub) takes {SERVING_CLASS.name}'s placement and the serving check: its hub "
          f"moves onto the process nodes, and the operator starts a server of its default profile; watching "
          f"climate-lab:", flush=True)
    check = {**serving_class.get("servingCheck", {}), "enabled": True}
    _kubectl(kubeconfig, "patch", "hubclass", "basehub", "--type=merge", "-p",
             json.dumps({"spec": {"values": serving_class["values"], "servingCheck": check}}))
    lab = watch(kubeconfig, "hubs", "climate-lab", timeout=600, until="ServingUsers")
    checked = next(c for c in lab["status"]["conditions"] if c["type"] == "ServingUsers")
    print(f"\nclimate-lab serves too: ServingUsers {checked['status']} {checked['reason']}: {checked['message']} "
          f"(its GitHub login needs GitHub: the operator's check starts a server without one).\n")
    print(_kubectl(kubeconfig, "get", "communityhubs", "-A").stdout)
    return 0


def dedicated() -> int:
    """Apply the dedicated example after `make demo` and watch it until Ready."""
    kubeconfig = ControlPlane(CLUSTER).kubeconfig
    started = time.monotonic()
    print(f"applying {DEDICATED_EXAMPLE.relative_to(REPO)} and watching ocean-local "
          f"(its cluster: control plane {DEDICATED_CLUSTER!r}, through terraform's local module):", flush=True)
    _kubectl(kubeconfig, "apply", "-f", str(DEDICATED_EXAMPLE))
    hub = watch(kubeconfig, "hubs", "ocean-local")
    print(f"\nocean-local is Ready ({time.monotonic() - started:.0f}s), on cluster {hub['status']['cluster']['name']} "
          f"at {hub['status']['cluster']['endpoint']}, chart {hub['status']['release']['chart']}.\n"
          f"Delete it, and with it its cluster (terraform destroy): make demo-dedicated-down")
    return 0


def dedicated_down() -> int:
    """Delete the dedicated example and wait until its cluster is destroyed and the CommunityHub is gone."""
    kubeconfig = ControlPlane(CLUSTER).kubeconfig
    _kubectl(kubeconfig, "-n", "hubs", "delete", "communityhub", "ocean-local", "--wait=false", check=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        result = _kubectl(kubeconfig, "-n", "hubs", "get", "communityhub", "ocean-local", "-o", "json", check=False)
        if result.returncode != 0:
            print("ocean-local is gone: its release uninstalled, its cluster destroyed (terraform destroy), "
                  "its state removed")
            return 0
        ready = next((c for c in json.loads(result.stdout).get("status", {}).get("conditions", [])
                      if c["type"] == "Ready"), None)
        if ready:
            print(f"  {ready['reason']}: {ready['message']}", flush=True)
        time.sleep(2)
    print(f"ocean-local still exists after 300s; see {demo_dir() / 'operator.log'}")
    return 1


def down() -> int:
    for name in ("operator", "smtp"):
        pid_file = demo_dir() / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        if _pid_alive(pid, sys.executable):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _pid_alive(pid, sys.executable):
                    break
                time.sleep(0.1)
            print(f"{name} (pid {pid}) stopped")
        pid_file.unlink()
    for name in (CLUSTER, DEDICATED_CLUSTER):
        ControlPlane(name).down()
        print(f"control plane {name!r} stopped")
    return 0


COMMANDS = {"up": up, "down": down, "dedicated": dedicated, "dedicated-down": dedicated_down}

if __name__ == "__main__":
    command = COMMANDS.get(sys.argv[1] if len(sys.argv) == 2 else "")
    sys.exit(command() if command else 2)
