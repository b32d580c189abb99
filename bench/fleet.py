"""A fleet of shared CommunityHubs on a local control plane, measured (issue 12).

    .venv/bin/python bench/fleet.py --hubs 100 [--hubs 300 ...] [--deploy-loop 100] [--idle-passes 3]

For each N, on a fresh control plane sized for it (enough kwok core nodes for N hubs' hub and proxy):
N CommunityHubs are applied at once (the real JupyterHub chart), then it prints apply-to-Ready p50/p95
per hub and the whole fleet's, API requests per hub by verb (the operator's, from the audit log, reads
included), the operator's peak resident memory and CPU seconds (its own, and its helm/terraform
children's apart), and the writes during an idle period of ``--idle-passes`` resync passes.
``--deploy-loop M`` also deploys M releases of the same chart and values one after another with
``helm upgrade --install --wait``, as a deploy command run from CI does (``--parallel P``: P at once, as a CI
matrix or ``xargs -P`` does; repeat it for several), then a fleet-wide bump (every hub's
image to a new tag) both ways: for the N equal to M, all manifests re-applied at once until every hub is Ready
on its new generation, against M ``helm upgrade --wait`` in a row. It prints both ratios.

``--change F`` (repeat: 0.1, 1.0) measures a fleet's life after its delivery (issue 34): the hubs are built on one
HubClass whose image catalog has one image per tenth of the fleet (each hub's large profile offers its tenth's),
and each change bumps the images of the first F of them, one ``kubectl apply`` of the class: the rendered values
of F of the hubs change. It prints the time until every affected hub is Ready on a new helm revision carrying the
class's new generation, the helm runs, and the CPU of every process; with ``--deploy-loop N`` (``--parallel 8``),
the same changes by a deployer's loop: every hub reading the changed layer re-deployed with
``helm upgrade --install --wait``, P at once, and, where F is below 1, only the affected hubs (a perfect plan).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime as dt
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from communityhub.adapters.helm import values_yaml  # noqa: E402
from communityhub.api.models import CommunityHubSpec, HubClassSpec  # noqa: E402
from communityhub.delivery import render  # noqa: E402
from localcluster import binaries, charts  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402

OPERATOR_NAMESPACE = "communityhub-system"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:communityhub-operator"
TENANTS = 10  # hubs are spread over this many tenant namespaces
#: No hub turned Ready for this long: the run stops and says which hubs are not Ready, and why.
STALL_SECONDS = 300
#: What one hub reserves on the core pool (hub 200m/1Gi, proxy 50m/128Mi) and one core node offers.
HUB_MEMORY_MI, CORE_NODE_MEMORY_MI = 1024 + 128, 13900


def core_nodes(n: int) -> int:
    """Core nodes for n hubs, with 10 % to spare: the scheduler does not pack 1 GiB hub pods perfectly (at
    1,000 hubs on exactly enough memory, 24 hub pods found no node)."""
    return math.ceil(n * HUB_MEMORY_MI / CORE_NODE_MEMORY_MI * 1.1) + 1


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    exe = binaries.ensure(["kubectl"])["kubectl"]
    result = subprocess.run([str(exe), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def established(kubeconfig: Path, crd: str, timeout: float = 60) -> None:
    """Wait for a new CRD by polling: ``kubectl wait`` fails at once while the CRD has no conditions yet."""
    deadline = time.time() + timeout
    path = '{.status.conditions[?(@.type=="Established")].status}'
    while kubectl(kubeconfig, "get", "crd", crd, "-o", f"jsonpath={path}", check=False).strip() != "True":
        if time.time() > deadline:
            raise RuntimeError(f"CRD {crd} not Established after {timeout:.0f}s")
        time.sleep(0.5)


def example_hub() -> dict[str, Any]:
    return list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]


#: A class change's unit: each hub's large profile offers the image of its tenth of the fleet (see --change).
BUCKETS = 10
BENCH_CLASS = "bench"
FIRST_TAG = "2026.11.01"


def bucket(i: int, n: int) -> int:
    return i * BUCKETS // n


def bench_class(tags: list[str]) -> dict[str, Any]:
    """The HubClass of a --change run: one catalog image per tenth of the fleet, at ``tags[b]``."""
    return {"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": BENCH_CLASS},
            "spec": {"description": "bench/fleet.py --change",
                     "images": [{"name": f"tenth-{b}", "reference": f"quay.io/example/notebook-{b}:{tag}"}
                                for b, tag in enumerate(tags)]}}


def change_tags(tags: list[str], fraction: float, step: int, suffix: str = "") -> tuple[list[str], int]:
    """The catalog after change ``step`` (from 1), which bumps the images of the first ``fraction`` of the
    tenths; and how many tenths it touches."""
    touched = max(1, round(fraction * BUCKETS))
    return [f"2026.12.{step:02d}{suffix}" if b < touched else tag for b, tag in enumerate(tags)], touched


def hub_states(kubeconfig: Path) -> dict[tuple[str, str], tuple[int, int | None, bool, str]]:
    """Per hub: its release's revision, the class generation it carries, whether it is Ready, when helm last
    deployed it."""
    out = {}
    for hub in json.loads(kubectl(kubeconfig, "get", "communityhubs", "-A", "-o", "json"))["items"]:
        status = hub.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        out[(hub["metadata"]["namespace"], hub["metadata"]["name"])] = (
            int((status.get("release") or {}).get("revision") or 0), (status.get("hubClass") or {}).get("generation"),
            ready, str((status.get("release") or {}).get("deployedAt") or ""))
    return out


def helm_runs(logs: list[Path]) -> int:
    return sum(log.read_text(errors="replace").count('"event": "helm upgrade"') for log in logs)


def class_change(kubeconfig: Path, plane: ControlPlane, operators: list[subprocess.Popen[bytes]], logs: list[Path],
                 hubs: list[tuple[str, str]], tags: list[str], fraction: float, step: int,
                 timeout: float) -> tuple[dict[str, Any], list[str]]:
    """One class change (one apply of the HubClass) until every hub it affects is Ready on a new revision that
    carries the class's new generation, and every hub has looked at it; the helm runs and CPU it took."""
    n = len(hubs)
    new_tags, touched = change_tags(tags, fraction, step)
    affected = {hub for i, hub in enumerate(hubs) if bucket(i, n) < touched}
    before = hub_states(kubeconfig)
    runs_from = helm_runs(logs)
    cpu_from = [proc_figures(op.pid) for op in operators]
    plane_from = plane_cpu(plane)
    started = time.time()
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", input=yaml.safe_dump(bench_class(new_tags)))
    generation = int(kubectl(kubeconfig, "get", "hubclass", BENCH_CLASS, "-o", "jsonpath={.metadata.generation}"))
    carried = looked = None
    states = before
    while time.time() - started < timeout and (carried is None or looked is None):
        time.sleep(2)
        states = hub_states(kubeconfig)
        elapsed = time.time() - started
        if carried is None and all(states[h][0] > before[h][0] and states[h][1] == generation and states[h][2]
                                   for h in affected):
            carried = elapsed
        if looked is None and all(states[h][1] == generation for h in hubs):
            looked = elapsed
    time.sleep(10)  # a helm run the operator should not have made would show by now
    after = hub_states(kubeconfig)
    cpu_to = [proc_figures(op.pid) for op in operators]
    deployed = [_epoch(after[h][3]) - started for h in affected if after[h][3]]
    return {"fraction": fraction, "affected": len(affected), "class_generation": generation,
            "carried_seconds": round(carried, 1) if carried is not None else None,
            "last_deployed_seconds": round(max(deployed), 1) if deployed else None,
            "every_hub_looked_seconds": round(looked, 1) if looked is not None else None,
            "helm_runs": helm_runs(logs) - runs_from,
            "new_revisions_unaffected": sum(after[h][0] != before[h][0] for h in hubs if h not in affected),
            "operator_cpu_s": round(sum(t["cpu_s"] - f["cpu_s"] for f, t in zip(cpu_from, cpu_to, strict=True)), 1),
            "helm_cpu_s": round(sum(t["children_cpu_s"] - f["children_cpu_s"]
                                    for f, t in zip(cpu_from, cpu_to, strict=True)), 1),
            "control_plane_cpu_s": {k: round(v - plane_from.get(k, 0.0), 1) for k, v in plane_cpu(plane).items()},
            }, new_tags


#: The fleet-wide change of a bump: every hub's image to a new tag, so every release is upgraded.
BUMPED_IMAGE = "quay.io/example/climate-notebook:2026.12.01"


def example_spec(image: str | None = None, tenth: int | None = None) -> dict[str, Any]:
    """The example hub's spec; ``tenth``: built on the --change class, its large profile offering that tenth's
    image."""
    spec = json.loads(json.dumps(example_hub()["spec"]))
    if image:
        spec["environment"]["image"] = image
    if tenth is not None:
        spec["hubClassName"] = BENCH_CLASS
        for profile in spec["environment"]["profiles"]:
            if profile["name"] == "large":
                profile["imageChoices"] = [f"tenth-{tenth}"]
    return spec


def fleet_manifests(n: int, image: str | None = None,
                    classed: bool = False) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    docs: list[dict[str, Any]] = []
    hubs = []
    for i in range(n):
        namespace, name = f"fleet-{i % TENANTS}", f"hub{i:04d}"
        hub = {**example_hub(), "spec": example_spec(image, bucket(i, n) if classed else None)}
        hub["metadata"] = {"name": name, "namespace": namespace}
        hub["spec"]["hub"]["domain"] = f"{name}.fleet.example.org"
        hub["spec"]["auth"]["clientSecretRef"] = {"name": f"{name}-oauth"}
        docs += [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-oauth", "namespace": namespace},
                  "stringData": {"client_id": "fleet", "client_secret": "fleet-secret"}}, hub]
        hubs.append((namespace, name))
    return docs, hubs


def operator_kubeconfig(plane: ControlPlane, workdir: Path) -> Path:
    """The operator as production runs it: the chart's RBAC and admission policy, its ServiceAccount's token."""
    helm = binaries.ensure(["helm"])["helm"]
    tenants = ",".join(f"fleet-{i}" for i in range(TENANTS))
    rbac = subprocess.run([str(helm), "template", "chub", str(REPO / "helm" / "communityhub-operator"),
                           "--namespace", OPERATOR_NAMESPACE, "--show-only", "templates/rbac.yaml",
                           "--set", f"tenantNamespaces={{{tenants}}}"], capture_output=True, text=True,
                          check=True).stdout
    kubectl(plane.kubeconfig, "apply", "-f", "-", input=rbac)
    token = kubectl(plane.kubeconfig, "create", "token", "communityhub-operator", "-n", OPERATOR_NAMESPACE,
                    "--duration=24h").strip()
    admin = yaml.safe_load(plane.kubeconfig.read_text())
    config = {"apiVersion": "v1", "kind": "Config", "clusters": admin["clusters"],
              "users": [{"name": "operator", "user": {"token": token}}],
              "contexts": [{"name": "op", "context": {"cluster": admin["clusters"][0]["name"], "user": "operator"}}],
              "current-context": "op"}
    path = workdir / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def proc_figures(pid: int) -> dict[str, float]:
    """Peak resident memory (MiB) and CPU seconds of a process, and of its children it has waited for."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) / tick for i in (11, 12, 13, 14))
    return {"peak_rss_mib": hwm / 1024, "cpu_s": utime + stime, "children_cpu_s": cutime + cstime}


def plane_cpu(plane: ControlPlane) -> dict[str, float]:
    """CPU seconds so far of each control-plane process (etcd, kube-apiserver, ..., kwok)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for proc in (plane._state() or {}).get("processes", []):
        stat = Path(f"/proc/{proc['pid']}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        out[proc["name"]] = (int(fields[11]) + int(fields[12])) / tick
    return out


def audit_entries(audit_log: Path, mark: int, user: str) -> list[dict[str, Any]]:
    with audit_log.open("rb") as handle:
        handle.seek(mark)
        entries = [json.loads(line) for line in handle if line.strip()]
    return [e for e in entries if e.get("user", {}).get("username") == user]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def ready_times(kubeconfig: Path, current: bool = False) -> dict[tuple[str, str], tuple[str, str]]:
    """(creation, Ready=True transition) per Ready hub; ``current``: only hubs whose status has seen their
    latest generation."""
    hubs = json.loads(kubectl(kubeconfig, "get", "communityhubs", "-A", "-o", "json"))["items"]
    out = {}
    for hub in hubs:
        if current and hub.get("status", {}).get("observedGeneration") != hub["metadata"]["generation"]:
            continue
        for cond in hub.get("status", {}).get("conditions", []):
            if cond["type"] == "Ready" and cond["status"] == "True":
                out[(hub["metadata"]["namespace"], hub["metadata"]["name"])] = (
                    hub["metadata"]["creationTimestamp"], cond["lastTransitionTime"])
    return out


def poll_seconds(n: int) -> float:
    """How often the benchmark lists the fleet: a list of 1,000 hubs is itself work for the API server."""
    return max(2.0, n / 100)


def not_ready(kubeconfig: Path) -> dict[str, str]:
    """namespace/name -> Ready's reason and message, of every hub that is not Ready."""
    out = {}
    for hub in json.loads(kubectl(kubeconfig, "get", "communityhubs", "-A", "-o", "json"))["items"]:
        ready = next((c for c in hub.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
        if not ready or ready["status"] != "True":
            key = f"{hub['metadata']['namespace']}/{hub['metadata']['name']}"
            out[key] = f"{ready['reason']}: {ready['message']}" if ready else "no status"
    return out


def fleet_bump(kubeconfig: Path, n: int, timeout: float) -> float | None:
    """Every hub's manifest changed at once (one apply, as a git commit synced by Argo CD would), until every
    hub is Ready on its new generation; None if that did not happen within ``timeout``."""
    docs, _ = fleet_manifests(n, BUMPED_IMAGE)
    started = time.time()
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
    while time.time() - started < timeout:
        time.sleep(poll_seconds(n))
        if len(ready_times(kubeconfig, current=True)) == n:
            return time.time() - started
    return None


def measure(n: int, idle_passes: int, timeout: float, resync: float, bump_fleet: bool = False,
            audit_reads: bool = True, shards: int = 1, memory_profile: bool = False,
            changes: list[float] | None = None) -> dict[str, Any]:
    core = core_nodes(n)
    os.environ.update({"CHUB_LOCAL_CORE_NODES": str(core), "CHUB_LOCAL_USER_NODES": "2",
                       "CHUB_LOCAL_AUDIT_READS": "1" if audit_reads else "0", "CHUB_LOCAL_AUDIT_MAXSIZE": "0",
                       "CHUB_LOCAL_APISERVER_INFLIGHT": str(max(400, n))})
    plane = ControlPlane(f"fleet-{n}")
    plane.down()
    kubeconfig = plane.up(timeout=300)
    workdir = Path(tempfile.mkdtemp(prefix=f"fleet-{n}-"))
    chart = charts.jupyterhub_chart()
    kubectl(kubeconfig, "create", "namespace", OPERATOR_NAMESPACE)
    for i in range(TENANTS):
        kubectl(kubeconfig, "create", "namespace", f"fleet-{i}")
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds" / "communityhub.yaml"))
    established(kubeconfig, "communityhubs.hubs.2i2c.org")
    tags = [FIRST_TAG] * BUCKETS
    if changes:
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds" / "hubclass.yaml"))
        established(kubeconfig, "hubclasses.hubs.2i2c.org")
        kubectl(kubeconfig, "apply", "--server-side", "-f", "-", input=yaml.safe_dump(bench_class(tags)))
    env = {**os.environ, "KUBECONFIG": str(operator_kubeconfig(plane, workdir)), **charts.operator_env(chart),
           "CHUB_NAMESPACE": OPERATOR_NAMESPACE, "CHUB_HELM": str(binaries.ensure(["helm"])["helm"]),
           "CHUB_RESYNC_SECONDS": str(resync), "CHUB_METER_SECONDS": "0", "CHUB_METRICS_PORT": "0",
           "CHUB_HEALTH_PORT": "0", "CHUB_CHART_CACHE": str(workdir / "charts"),
           "MALLOC_ARENA_MAX": "2"}  # as the image sets it
    # One process per shard (communityhub.runtime.sharding), each with its own helm concurrency; one: unsharded.
    logs = [workdir / f"operator-{shard}.log" for shard in range(shards)]
    operators = []
    for shard, log in enumerate(logs):
        extra = {"CHUB_SHARDS": str(shards), "CHUB_SHARD": str(shard)} if shards > 1 else {}
        if memory_profile:
            extra["CHUB_MEMORY_PROFILE"] = str(workdir / f"memory-{shard}.txt")
        with log.open("wb") as out:
            operators.append(subprocess.Popen([sys.executable, "-m", "communityhub"], stdout=out,
                                              stderr=subprocess.STDOUT, env={**env, **extra}))
    try:
        for log in logs:
            while "Activity 'startup' succeeded" not in log.read_text(errors="replace"):
                time.sleep(0.2)
        docs, hubs = fleet_manifests(n, classed=bool(changes))
        mark = plane.audit_log.stat().st_size
        plane_from = plane_cpu(plane)
        applied = time.time()
        kubectl(kubeconfig, "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
        apply_done = time.time()
        ready: dict[tuple[str, str], tuple[str, str]] = {}
        progress = time.time()
        while len(ready) < n and time.time() - applied < timeout:
            time.sleep(poll_seconds(n))
            now_ready = ready_times(kubeconfig)
            if len(now_ready) > len(ready):
                progress = time.time()
            ready = now_ready
            if time.time() - progress > STALL_SECONDS:
                print(json.dumps({"stalled": not_ready(kubeconfig)}), flush=True)
                break
        all_ready = time.time()
        each = [proc_figures(op.pid) for op in operators]
        delivery = {"peak_rss_mib": max(f["peak_rss_mib"] for f in each),
                    "cpu_s": sum(f["cpu_s"] for f in each), "children_cpu_s": sum(f["children_cpu_s"] for f in each)}
        if memory_profile:
            for shard, op in enumerate(operators):
                op.send_signal(signal.SIGUSR1)
                print(f"memory profile: {workdir / f'memory-{shard}.txt'}", flush=True)
        plane_used = {name: round(cpu - plane_from.get(name, 0.0), 1) for name, cpu in plane_cpu(plane).items()}
        entries = audit_entries(plane.audit_log, mark, OPERATOR_USER)
        verbs = collections.Counter(e["verb"] for e in entries)
        # Where the API server's work per hub goes: verb and resource (subresource), the most frequent first.
        kinds = collections.Counter(
            f"{e['verb']} {(e.get('objectRef') or {}).get('resource', '?')}"
            + (f"/{e['objectRef']['subresource']}" if (e.get("objectRef") or {}).get("subresource") else "")
            for e in entries)
        # Idle: every hub Ready, nothing changes; at least idle_passes resync passes over each hub.
        time.sleep(5)
        idle_mark = plane.audit_log.stat().st_size
        idle_from = sum(proc_figures(op.pid)["cpu_s"] for op in operators)
        time.sleep(resync * idle_passes + 5)
        idle_cpu = sum(proc_figures(op.pid)["cpu_s"] for op in operators) - idle_from
        idle_writes = [e for e in audit_entries(plane.audit_log, idle_mark, OPERATOR_USER)
                       if e["verb"] in ("create", "update", "patch", "delete")]
        bump = fleet_bump(kubeconfig, n, timeout) if bump_fleet else None
        runs = helm_runs(logs)  # the delivery's (and the bump's), before any class change
        changed = []
        for step, fraction in enumerate(changes or [], start=1):
            figures, tags = class_change(kubeconfig, plane, operators, logs, hubs, tags, fraction, step, timeout)
            changed.append(figures)
            print(json.dumps({"class_change": figures}), flush=True)
        shard_of = [item["metadata"].get("labels", {}).get("hubs.2i2c.org/shard", "-") for item in json.loads(
            kubectl(kubeconfig, "get", "communityhubs", "-A", "-o", "json"))["items"]] if shards > 1 else []
        # Per hub, from its creation to Ready (both whole seconds): the apply of a large fleet takes a while.
        to_ready = [_epoch(ready[h][1]) - _epoch(ready[h][0]) for h in hubs if h in ready]
        return {
            "hubs": n, "core_nodes": core, "ready": len(ready), "apply_seconds": apply_done - applied,
            "fleet_ready_seconds": all_ready - applied if len(ready) == n else None,
            "p50": statistics.median(to_ready) if to_ready else None,
            "p95": percentile(to_ready, 0.95) if to_ready else None,
            "requests_per_hub": {verb: round(count / n, 2) for verb, count in sorted(verbs.items())},
            "requests_per_hub_by_resource": {k: round(c / n, 2) for k, c in kinds.most_common(25)},
            **{k: round(v, 1) for k, v in delivery.items()},
            "control_plane_cpu_s": plane_used,
            "idle_writes": len(idle_writes), "idle_seconds": resync * idle_passes + 5,
            # What one resync pass over one idle hub costs the operator (CPU milliseconds).
            "idle_cpu_ms_per_hub_pass": round(1000 * idle_cpu / (n * (resync * idle_passes + 5)
                                                                  / resync), 2),
            "helm_runs": runs,
            # Every process's CPU (the operator, its helm children, the control plane) over the delivery, per hub.
            "cpu_per_hub_all_s": round((delivery["cpu_s"] + delivery["children_cpu_s"] + sum(plane_used.values()))
                                       / n, 3),
            **({"shards": [{"shard": shard, "hubs": shard_of.count(str(shard)),
                            "helm_runs": log.read_text(errors="replace").count('"event": "helm upgrade"'),
                            "peak_rss_mib": round(f["peak_rss_mib"], 1), "cpu_s": round(f["cpu_s"], 1),
                            "helm_cpu_s": round(f["children_cpu_s"], 1)}
                           for shard, (log, f) in enumerate(zip(logs, each, strict=True))]} if shards > 1 else {}),
            **({"bump_seconds": bump} if bump_fleet else {}),
            **({"changes": changed} if changes else {}),
        }
    finally:
        for op in operators:
            op.terminate()
            op.wait()
        plane.down()


def _epoch(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339).timestamp()


def deploy_loop(m: int, audit_reads: bool = True, parallel: int = 1, bump: bool = True,
                changes: list[float] | None = None) -> dict[str, Any]:
    """The same chart and values as `helm upgrade --install --wait` from CI: release after release, or
    ``parallel`` at once (a CI matrix, ``xargs -P 8``). CPU: helm's (its processes, reaped) and the control
    plane's, over the loop."""
    # The control plane exactly as the operator's run had it.
    os.environ.update({"CHUB_LOCAL_CORE_NODES": str(core_nodes(m)),
                       "CHUB_LOCAL_AUDIT_READS": "1" if audit_reads else "0",
                       "CHUB_LOCAL_APISERVER_INFLIGHT": str(max(400, m))})
    plane = ControlPlane(f"fleet-loop-{parallel}")
    plane.down()
    kubeconfig = plane.up(timeout=300)
    helm = binaries.ensure(["helm"])["helm"]
    chart = charts.jupyterhub_chart()
    workdir = Path(tempfile.mkdtemp(prefix="fleet-loop-"))

    def deploy(i: int, image: str | None, tags: list[str] | None = None) -> None:
        """Release i; ``tags``: built on the --change class at that catalog (its values rendered with it, as the
        operator renders them)."""
        name = f"hub{i:04d}"
        spec = CommunityHubSpec.model_validate(example_spec(image, bucket(i, m) if tags else None))
        catalog = HubClassSpec.model_validate(bench_class(tags)["spec"]) if tags else None
        values = render.values(f"fleet-{i % TENANTS}", name, spec, None, OPERATOR_NAMESPACE, name, catalog=catalog)
        values_file = workdir / f"{name}.yaml"
        values_file.write_text(values_yaml(values))
        subprocess.run([str(helm), "--kubeconfig", str(kubeconfig), "upgrade", "--install", name,
                        str(chart.archive), "--namespace", f"loop-{name}", "--create-namespace",
                        "--values", str(values_file), "--wait", "--timeout", "300s"],
                       check=True, capture_output=True)

    def loop(image: str | None, tags: list[str] | None = None, only: list[int] | None = None) -> dict[str, Any]:
        started, plane_from = time.time(), plane_cpu(plane)
        helm_from = resource.getrusage(resource.RUSAGE_CHILDREN)
        with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
            for done in pool.map(lambda i: deploy(i, image, tags), range(m) if only is None else only):
                assert done is None
        helm_to = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"seconds": round(time.time() - started, 1),
                "helm_cpu_s": round(helm_to.ru_utime + helm_to.ru_stime - helm_from.ru_utime - helm_from.ru_stime, 1),
                "control_plane_cpu_s": {k: round(v - plane_from.get(k, 0.0), 1) for k, v in plane_cpu(plane).items()}}

    try:
        if changes:
            return {"releases": m, "parallel": parallel, "install": loop(None, [FIRST_TAG] * BUCKETS),
                    "changes": change_loops(m, changes, loop)}
        return {"releases": m, "parallel": parallel, "install": loop(None),
                **({"bump": loop(BUMPED_IMAGE)} if bump else {})}
    finally:
        plane.down()


def change_loops(m: int, changes: list[float], loop: Any) -> list[dict[str, Any]]:
    """The --change steps as a deployer makes them: the class's catalog is a layer every hub reads (a cluster's
    common values file), so every hub is re-deployed; where a change affects fewer than all, also only the
    affected hubs, as a perfect plan would (each with a tag of its own, so both are real changes)."""
    tags, out = [FIRST_TAG] * BUCKETS, []
    for step, fraction in enumerate(changes, start=1):
        figures: dict[str, Any] = {"fraction": fraction}
        touched = change_tags(tags, fraction, step)[1]
        affected = [i for i in range(m) if bucket(i, m) < touched]
        if len(affected) < m:
            tags = change_tags(tags, fraction, step, "-planned")[0]
            figures["affected_only"] = {"releases": len(affected), **loop(None, tags, affected)}
        tags = change_tags(tags, fraction, step)[0]
        figures["every_hub"] = {"releases": m, **loop(None, tags)}
        out.append(figures)
        print(json.dumps({"deploy_loop_change": figures}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hubs", type=int, action="append", help="fleet sizes (repeat); default 100")
    parser.add_argument("--deploy-loop", type=int, default=0, help="also deploy this many releases in a loop")
    parser.add_argument("--parallel", type=int, action="append",
                        help="deploy loops at this many releases at once (repeat; default 1, the sequential loop)")
    parser.add_argument("--idle-passes", type=int, default=3)
    parser.add_argument("--resync", type=float, default=20, help="the operator's CHUB_RESYNC_SECONDS")
    parser.add_argument("--no-audit-reads", dest="audit_reads", action="store_false",
                        help="audit writes only: no requests-per-hub figures, but the API server's CPU as in "
                             "production (for the comparison with the deploy loop)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--no-bump", dest="bump", action="store_false",
                        help="no fleet-wide bump, neither by the operator nor by the loops (large N)")
    parser.add_argument("--shards", type=int, default=1,
                        help="run the operator as this many shards (one process each) and report each one's share")
    parser.add_argument("--change", type=float, action="append", default=None,
                        help="after the delivery, a class change that alters the values of this fraction of the hubs "
                             "(repeat: 0.1 --change 1.0; tenths), by the operator and by each deploy loop")
    parser.add_argument("--memory-profile", action="store_true",
                        help="tracemalloc in the operator; its largest allocations once all hubs are Ready")
    args = parser.parse_args()
    print(f"hub chart: {charts.jupyterhub_chart().describe()}", flush=True)
    results = []
    for n in args.hubs or [100]:
        bump = args.bump and not args.change and n == args.deploy_loop
        result = measure(n, args.idle_passes, args.timeout, args.resync, bump_fleet=bump,
                         audit_reads=args.audit_reads, shards=args.shards, memory_profile=args.memory_profile,
                         changes=args.change)
        results.append(result)
        print(json.dumps(result), flush=True)
    for parallel in (args.parallel or [1]) if args.deploy_loop else []:
        loop = deploy_loop(args.deploy_loop, args.audit_reads, parallel, args.bump and not args.change, args.change)
        print(json.dumps({"deploy_loop": loop}), flush=True)
        same = next((r for r in results if r["hubs"] == args.deploy_loop and r["fleet_ready_seconds"]), None)
        if same:
            install = loop["install"]["seconds"]
            per_hub = loop["install"]["helm_cpu_s"] / args.deploy_loop
            operator_per_hub = (same["cpu_s"] + same["children_cpu_s"]) / args.deploy_loop
            print(f"deploy of {args.deploy_loop} hubs: operator {same['fleet_ready_seconds']:.0f}s, deploy loop "
                  f"({parallel} at once) {install:.0f}s: the operator {install / same['fleet_ready_seconds']:.2f}x "
                  f"as fast; CPU per hub: the operator and its helm {operator_per_hub:.2f}s, the loop's helm "
                  f"{per_hub:.2f}s")
            for ours, theirs in zip(same.get("changes") or [], loop.get("changes") or [], strict=False):
                every = theirs["every_hub"]["seconds"]
                planned = theirs.get("affected_only", {}).get("seconds")
                print(f"class change of {ours['fraction']:.0%}: the operator {ours['carried_seconds']}s "
                      f"({ours['helm_runs']} helm runs), the loop re-deploying every hub {every:.0f}s"
                      + (f", only the affected {planned:.0f}s" if planned is not None else ""))
            if same.get("bump_seconds") and "bump" in loop:
                bump = loop["bump"]["seconds"]
                print(f"fleet-wide bump: operator {same['bump_seconds']:.0f}s, deploy loop "
                      f"{bump:.0f}s: {bump / same['bump_seconds']:.1f}x")


if __name__ == "__main__":
    main()
