"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods become Running and Ready).

Each control plane has a name and a state directory holding its certificates, etcd data, logs,
the PIDs it started and an admin kubeconfig. Several can run side by side (distinct ports and
directories), which is how tests get a "workload cluster" apart from the "management cluster".
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from localcluster import binaries, pki

SERVICE_CIDR = "10.96.0.0/16"
#: The default StorageClass: the controller-manager's host-path provisioner (development only), so claims
#: such as the JupyterHub chart's hub-db-dir get bound.
STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "kubernetes.io/host-path",
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}
POD_CIDR = "10.244.0.0/16"
#: The processes a plane is made of (state.json may list more: the process-pods agent, started apart).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclasses.dataclass(frozen=True)
class FakeNode:
    name: str
    pool: str
    instance_type: str
    zone: str
    cpu: str
    memory: str
    allocatable_cpu: str
    allocatable_memory: str


def node_counts() -> tuple[int, int]:
    """How many core and user nodes: ``CHUB_LOCAL_CORE_NODES`` / ``CHUB_LOCAL_USER_NODES`` (fake nodes cost
    nothing; a fleet benchmark asks for many)."""
    return int(os.environ.get("CHUB_LOCAL_CORE_NODES", "4")), int(os.environ.get("CHUB_LOCAL_USER_NODES", "2"))


def core_node_size() -> tuple[int, int]:
    """CPU and memory (GiB) of each core node: ``CHUB_LOCAL_CORE_CPU`` / ``CHUB_LOCAL_CORE_MEMORY_GIB`` (an
    n2-standard-4 by default: 4 and 16). A node keeps what a real one keeps for the system (2 % of its CPU,
    15 % of its memory) out of what pods may request."""
    return int(os.environ.get("CHUB_LOCAL_CORE_CPU", "4")), int(os.environ.get("CHUB_LOCAL_CORE_MEMORY_GIB", "16"))


def default_nodes(region: str = "us-central1") -> list[FakeNode]:
    """A core pool for hub infrastructure (hub, proxy: each hub reserves 250m and about 1.1Gi there) and a
    user pool, spread over zones a, b and c."""
    core, user = node_counts()
    cpu, memory_gib = core_node_size()
    machine = "n2-standard-4" if (cpu, memory_gib) == (4, 16) else f"custom-{cpu}-{memory_gib * 1024}"
    allocatable = (f"{cpu * 980}m", f"{round(memory_gib * 1024 * 13900 / 16384)}Mi")
    zones = [f"{region}-{z}" for z in "abc"]
    return [
        *(FakeNode(f"kwok-core-{i}", "core", machine, zones[i % 3], str(cpu), f"{memory_gib}Gi", *allocatable)
          for i in range(core)),
        *(FakeNode(f"kwok-user-{i}", "user", "n2-highmem-4", zones[i % 3], "4", "32Gi", "3920m", "29000Mi")
          for i in range(user)),
    ]


def audit_policy() -> dict[str, Any]:
    """Writes at Metadata level (the tests count them); reads too with ``CHUB_LOCAL_AUDIT_READS=1`` (the fleet
    benchmark counts API requests by verb), leases never (renewals are noise)."""
    rules: list[dict[str, Any]] = [{"level": "None", "resources": [{"group": "coordination.k8s.io",
                                                                     "resources": ["leases"]}]}]
    if os.environ.get("CHUB_LOCAL_AUDIT_READS") != "1":
        rules.insert(0, {"level": "None", "verbs": ["get", "list", "watch"]})
    return {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [*rules, {"level": "Metadata"}]}


def state_root() -> Path:
    if value := os.environ.get("CHUB_STATE_DIR"):
        return Path(value)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "communityhub-operator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pid_alive(pid: int, binary: str) -> bool:
    """True when pid runs the given binary and has not exited (a reused PID of another program does not
    count). Reads /proc/<pid>/stat: cmdline can read empty for a moment right after exec."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split(" ", 1)[0]
    return state not in ("Z", "X") and comm == Path(binary).name[:15]


def _kubeconfig(server: str, ca: bytes, cert: bytes, key: bytes, user: str, cluster: str) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }


class ControlPlane:
    def __init__(self, name: str = "dev", root: Path | None = None, region: str = "us-central1") -> None:
        self.name = name
        self.dir = (root or state_root()) / "clusters" / name
        self.region = region

    # -- paths ---------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def _state(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return None

    @property
    def server(self) -> str:
        state = self._state()
        if not state:
            raise RuntimeError(f"control plane {self.name!r} is not running")
        return f"https://127.0.0.1:{state['ports']['apiserver']}"

    # -- lifecycle -----------------------------------------------------------------------------
    def running(self) -> bool:
        state = self._state()
        if not state:
            return False
        components = [p for p in state["processes"] if p["name"] in COMPONENTS]
        if len(components) < len(COMPONENTS) or not all(_pid_alive(p["pid"], p["binary"]) for p in components):
            return False
        return self._ready()

    def up(self, timeout: float = 120.0) -> Path:
        """Start the control plane (or find it running) and return its kubeconfig path.

        A plane whose components died (a reboot, a killed process) resumes on its own data: its etcd, its CA and
        its service-account keys are kept, so its objects, Secrets and releases are still there. Only ``down``
        removes a plane."""
        if self.running():
            return self.kubeconfig
        previous = self._state()
        paths = binaries.ensure(binaries.CONTROL_PLANE)
        if previous and (self.dir / "etcd").is_dir():
            self._stop(previous["processes"])  # what is left of it; its data stays
            ports = {k: port if _port_free(port) else free_port() for k, port in previous["ports"].items()}
        else:
            self.down()  # a half-started one, with nothing worth keeping
            ports = {k: free_port() for k in ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler")}
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        state: dict[str, Any] = {"name": self.name, "ports": ports, "processes": []}
        self.state_file.write_text(json.dumps(state))
        certs = self._pki()
        deadline = time.monotonic() + timeout
        try:
            self._start(state, "etcd", paths["etcd"], self._etcd_args(ports))
            self._wait(lambda: self._http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), deadline, "etcd")
            self._start(state, "kube-apiserver", paths["kube-apiserver"], self._apiserver_args(ports, certs))
            self._wait(self._ready, deadline, "kube-apiserver /readyz")
            kcm_args = [
                *self._component_args("kube-controller-manager", ports["kcm"], certs),
                f"--service-account-private-key-file={certs['sa_key']}",
                f"--root-ca-file={certs['ca']}",
                f"--cluster-signing-cert-file={certs['ca']}",
                f"--cluster-signing-key-file={certs['ca_key']}",
                "--use-service-account-credentials=true",
                f"--cluster-cidr={POD_CIDR}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--enable-hostpath-provisioner=true",
            ]
            self._start(state, "kube-controller-manager", paths["kube-controller-manager"], kcm_args)
            self._start(state, "kube-scheduler", paths["kube-scheduler"],
                        self._component_args("kube-scheduler", ports["scheduler"], certs))
            self._start(state, "kwok", paths["kwok"], [
                f"--kubeconfig={self.kubeconfig}",
                f"--config={binaries.kwok_stages_file()}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-label-selector=type=kwok",
                f"--cidr={POD_CIDR}",
                "--node-lease-duration-seconds=40",
            ])
            self._create_nodes()
            self._create("/apis/storage.k8s.io/v1/storageclasses", STORAGE_CLASS)
            self._wait(self._nodes_ready, deadline, "kwok nodes Ready")
            self._wait(self._default_service_account, deadline, "the default ServiceAccount")
        except Exception:
            self._dump_logs()
            raise
        if previous and any(p["name"] == "process-pods" for p in previous["processes"]):
            from localcluster import processpods  # imports this module

            processpods.start(self)  # its pods' processes died with it; they start again from the API server
        return self.kubeconfig

    def down(self) -> None:
        """Stop exactly the processes this control plane started, then remove its state."""
        state = self._state()
        if state:
            self._stop(state["processes"])
        from localcluster import processpods  # what a killed process-pods agent left (imports this module)

        processpods.cleanup(self.name)
        if self.dir.exists():
            shutil.rmtree(self.dir)

    @staticmethod
    def _stop(processes: list[dict[str, Any]]) -> None:
        """SIGTERM the plane's processes that still run, last started first; SIGKILL what outlives 15 s."""
        procs = [p for p in reversed(processes) if _pid_alive(p["pid"], p["binary"])]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_pid_alive(p["pid"], p["binary"]) for p in procs):
            time.sleep(0.1)
        for proc in procs:
            if _pid_alive(proc["pid"], proc["binary"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc["pid"], signal.SIGKILL)

    # -- pieces --------------------------------------------------------------------------------
    def _pki(self) -> dict[str, Path]:
        pki_dir = self.dir / "pki"
        pki_dir.mkdir(exist_ok=True)
        ca = pki.CertificateAuthority(pki_dir)
        serving = ca.issue(
            pki_dir, "apiserver", "kube-apiserver",
            server_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local"),
            server_ips=("127.0.0.1", "10.96.0.1"),
        )
        sa_key, sa_pub = pki.service_account_keys(pki_dir)
        server = self.server
        users = {
            "admin": ("kubernetes-admin", "system:masters"),
            "kube-controller-manager": ("system:kube-controller-manager", None),
            "kube-scheduler": ("system:kube-scheduler", None),
        }
        for stem, (cn, org) in users.items():
            cert, key = ca.issue(pki_dir, stem, cn, organization=org)
            config = _kubeconfig(server, ca.cert_path.read_bytes(), cert.read_bytes(), key.read_bytes(),
                                 cn, f"localcluster-{self.name}")
            path = self.kubeconfig if stem == "admin" else self.dir / f"{stem}.kubeconfig"
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
        (self.dir / "audit-policy.yaml").write_text(yaml.safe_dump(audit_policy()))
        return {"ca": ca.cert_path, "ca_key": ca.key_path, "serving_cert": serving[0],
                "serving_key": serving[1], "sa_key": sa_key, "sa_pub": sa_pub,
                "admin_cert": pki_dir / "admin.crt", "admin_key": pki_dir / "admin.key"}

    def _etcd_args(self, ports: dict[str, int]) -> list[str]:
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['etcd_peer']}"
        return [
            f"--name={self.name}", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            "--unsafe-no-fsync=true",  # throwaway data: trade durability for speed
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: dict[str, int], certs: dict[str, Path]) -> list[str]:
        return [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",  # a loopback endpoint for the kubernetes Service is invalid
            f"--tls-cert-file={certs['serving_cert']}", f"--tls-private-key-file={certs['serving_key']}",
            f"--client-ca-file={certs['ca']}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={certs['sa_pub']}",
            f"--service-account-signing-key-file={certs['sa_key']}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            # Sized for a fleet where asked (bench/fleet.py): the defaults are 400 and 200.
            f"--max-requests-inflight={os.environ.get('CHUB_LOCAL_APISERVER_INFLIGHT', '400')}",
            f"--max-mutating-requests-inflight={int(os.environ.get('CHUB_LOCAL_APISERVER_INFLIGHT', '400')) // 2}",
            f"--audit-policy-file={self.dir / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}", "--audit-log-format=json",
            # MB before rotation; a fleet benchmark reads one unrotated log (CHUB_LOCAL_AUDIT_MAXSIZE=0: never).
            f"--audit-log-maxsize={os.environ.get('CHUB_LOCAL_AUDIT_MAXSIZE', '200')}",
            "--audit-log-mode=blocking",  # every write is on disk before the response: tests can count them
        ]

    def _component_args(self, component: str, port: int, certs: dict[str, Path]) -> list[str]:
        kubeconfig = self.dir / f"{component}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={port}",
        ]

    def _start(self, state: dict[str, Any], name: str, binary: Path, args: list[str]) -> None:
        log = open(self.dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [str(binary), *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `make cluster-up`; stopped by PID in down()
        )
        log.close()
        state["processes"].append({"name": name, "pid": proc.pid, "binary": str(binary)})
        self.state_file.write_text(json.dumps(state, indent=2))

    def _wait(self, check: Any, deadline: float, what: str) -> None:
        started = time.monotonic()
        while time.monotonic() < deadline:
            state = self._state() or {"processes": []}
            dead = [p["name"] for p in state["processes"] if not _pid_alive(p["pid"], p["binary"])]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}; logs in {self.dir}/logs")
            with contextlib.suppress(Exception):
                if check():
                    print(f"  {self.name}: {what} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)
                    return
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.dir}/logs")

    def _dump_logs(self) -> None:
        for log in sorted((self.dir / "logs").glob("*.log")) if self.dir.exists() else []:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail))

    # -- API access without a client library (this package runs before the venv has one) -----
    def _ssl(self) -> ssl.SSLContext:
        pki_dir = self.dir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        return ctx

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as resp:
            return dict(json.loads(resp.read() or b"{}"))

    @staticmethod
    def _http_ok(url: str) -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)

    def _ready(self) -> bool:
        try:
            req = urllib.request.Request(self.server + "/readyz")
            with urllib.request.urlopen(req, context=self._ssl(), timeout=3) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError, RuntimeError, ssl.SSLError):
            return False

    def _create_nodes(self) -> None:
        for node in default_nodes(self.region):
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": node.name,
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": node.name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node.kubernetes.io/instance-type": node.instance_type,
                        "topology.kubernetes.io/region": self.region,
                        "topology.kubernetes.io/zone": node.zone,
                        "hubs.2i2c.org/node-pool": node.pool,
                        "hub.jupyter.org/node-purpose": node.pool,
                    },
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {},
                "status": {
                    "capacity": {"cpu": node.cpu, "memory": node.memory, "pods": "110"},
                    "allocatable": {"cpu": node.allocatable_cpu, "memory": node.allocatable_memory,
                                    "pods": "110"},
                },
            }
            self._create("/api/v1/nodes", body)

    def _create(self, collection: str, body: dict[str, Any]) -> None:
        """POST an object; one that exists already is fine."""
        try:
            self.request("POST", collection, body)
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise

    def _nodes_ready(self) -> bool:
        nodes = self.request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"]
        ready = [
            n for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        ]
        return len(ready) == len(default_nodes(self.region))

    def _default_service_account(self) -> bool:
        self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return True
