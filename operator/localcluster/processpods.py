"""Process pods: a node of the local control plane whose pods run as real processes (development tooling,
not part of the operator).

kwok marks every other pod Running and runs nothing. This agent is the kubelet of one more node,
``process-<plane>`` (tainted, so only pods that tolerate it land there): it starts the containers of the
JupyterHub chart's hub, proxy and user servers from the pod spec the API server holds, with the software
their images hold (environments built from ``../shared/charts/images/``, see ``SOFTWARE``), and reports
their status as a kubelet does.

- **Network.** The plane gets a network namespace of its own (``chub-<plane>``) with a bridge on
  ``POD_CIDR``; each pod gets a namespace with a veth on that bridge and its own address. Pod addresses are
  reachable only inside those namespaces. A Service's cluster IP is local in the plane's namespace, where
  this agent relays each connection to a ready process pod the Service selects (no kube-proxy); the
  ``kubernetes`` Service is relayed to the API server on the host's loopback (its certificate names
  10.96.0.1), so pods are in-cluster clients with their ServiceAccount's token. A NodePort Service is
  reachable from the host at ``127.0.0.1:<nodePort>``; a stand-in Service (``stand_in_port``) is relayed to a
  port on the host's loopback, where the tests run identity providers' stand-ins.
- **Names.** Each pod's ``/etc/hosts`` names the Services of its namespace (``hub``, ``proxy-api``, and
  their ``.<ns>.svc.cluster.local`` forms) at their cluster IPs, rewritten as Services come and go.
- **Files.** Secrets, ConfigMaps, the projected ServiceAccount token, emptyDirs and bound claims are
  materialized in the pod's folder under ``/run`` and bound at their mount paths, subPaths included, in a
  private mount namespace per container (``podexec``). hostPath and network volumes are refused.
- **Lifecycle.** Init containers run in order; containers restart as the pod's restartPolicy says, with
  back-off, and the pod's status says so (restartCount, lastState, CrashLoopBackOff). readinessProbe httpGet
  and tcpSocket are probed. A deleted pod's processes get SIGTERM, then SIGKILL after its grace period.
  Stopping the agent stops every process it started.
- **Pool nodes.** ``add_pools`` gives the agent one more node per node pool of a class (its labels and capacity),
  so a profile placed on a pool is served as the others are.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import dataclasses
import datetime
import fnmatch
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from localcluster import controlplane

POD_CIDR = ipaddress.ip_network("10.245.0.0/16")
GATEWAY = "10.245.0.1"
#: The bridge's own MAC address (locally administered, unicast): see add_bridge.
GATEWAY_MAC = "02:0a:f5:00:00:01"
API_SERVICE_IP = "10.96.0.1"
TAINT_KEY = "hubs.2i2c.org/process-pods"
NODE_LABEL = TAINT_KEY
CACHE = Path.home() / ".cache" / "communityhub-operator"
RUNTIME = Path("/run/communityhub-process-pods")
CLONE_NEWNET = 0x40000000
#: Services relayed to a port on the host's loopback (see stand_in_port): the tests' identity provider stand-ins.
STAND_INS_NAMESPACE = "process-pods-stand-ins"
STAND_IN_ANNOTATION = "processpods.hubs.2i2c.org/host-port"
#: A pass of the agent's loop longer than this is logged: every pod's probes and restarts wait for it.
SLOW_PASS_SECONDS = 3.0
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True)
class Software:
    """What an image holds, for the images process pods run: where its programs are, and its defaults."""

    images: tuple[str, ...]  # fnmatch patterns of the image reference
    bin_dir: Path | None  # prepended to the image's PATH; None: the host's programs
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    uid: int = 0
    env: tuple[tuple[str, str], ...] = ()
    home: str | None = None  # a writable folder the image has, made per container where no volume is
    build: str = ""  # how to make it, for the message when it is missing


HUB = Software(("*/k8s-hub:*", "k8s-hub:*"), CACHE / "hubenv-4.4.0" / "bin",
               cmd=("jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"),
               workdir="/srv/jupyterhub", uid=1000, env=(("HOME", "/home/jovyan"),), home="/home/jovyan",
               build="make hubenv")
PROXY = Software(("*/configurable-http-proxy:*", "configurable-http-proxy:*"),
                 CACHE / "chp-5.2.0" / "node_modules" / ".bin", entrypoint=("configurable-http-proxy",),
                 workdir="/srv/configurable-http-proxy", uid=65534, build="make hubenv")
NETWORK_TOOLS = Software(("*/k8s-network-tools:*",), None)
#: Every other image is a user image: one environment, the chart's sample user image's, serves them all.
USER = Software(("*",), CACHE / "userenv-4.4.0" / "bin", cmd=("jupyterhub-singleuser",), workdir="/home/jovyan",
                uid=1000, env=(("HOME", "/home/jovyan"), ("SHELL", "/bin/bash")), home="/home/jovyan",
                build="make hubenv")
SOFTWARE = (HUB, PROXY, NETWORK_TOOLS, USER)


def software_for(image: str) -> Software:
    return next(s for s in SOFTWARE if any(fnmatch.fnmatch(image, p) for p in s.images))


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) references: to a defined variable's value; $$ escapes."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


# -- the API ---------------------------------------------------------------------------------------------
class Api:
    """The API server, as the admin (a kubelet's rights on its node's pods are a subset)."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.server = plane.server
        pki = plane.dir / "pki"
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, context=self.ctx, timeout=15) as resp:
            return json.loads(resp.read() or b"{}")

    def get(self, path: str) -> Any | None:
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def patch_status(self, path: str, status: dict[str, Any]) -> None:
        self.call("PATCH", path + "/status", {"status": status}, "application/merge-patch+json")


# -- namespaces ------------------------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(name: str | None) -> Any:
    """Run the block in a named network namespace (this thread only); None: the host's. A socket keeps the
    namespace it was made in, so a listener made here serves there whatever thread accepts on it."""
    if name is None:
        yield
        return
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as target:
        if _libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        try:
            yield
        finally:
            _libc.setns(home.fileno(), CLONE_NEWNET)


def ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def add_bridge(netns: str) -> None:
    """The pods' bridge, the gateway's address on it, and a MAC address of its own. Without one, a Linux bridge
    takes the lowest of its ports' addresses, which changes as pods come and go: every pod's cached address of
    its gateway then points nowhere until its ARP entry goes stale, and a hub went unreachable for 30 to 40 s
    whenever a user's server started or stopped (CI's visitor, whose server could not reach the hub)."""
    ip("-n", netns, "link", "add", "br0", "type", "bridge")
    ip("-n", netns, "link", "set", "br0", "address", GATEWAY_MAC)
    ip("-n", netns, "addr", "add", f"{GATEWAY}/{POD_CIDR.prefixlen}", "dev", "br0")
    ip("-n", netns, "link", "set", "br0", "up")


# -- relays ----------------------------------------------------------------------------------------------
class Relays:
    """TCP listeners in the plane's namespace (cluster IPs) and on the host (node ports), each connection
    relayed to where a resolver says. Runs its own event loop in a thread."""

    def __init__(self, plane_ns: str) -> None:
        self.plane_ns = plane_ns
        self.loop = asyncio.new_event_loop()
        self.servers: dict[tuple[str | None, str, int], asyncio.AbstractServer] = {}
        self.failed: set[tuple[str | None, str, int]] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relays", daemon=True)
        self.thread.start()

    def sync(self, wanted: dict[tuple[str | None, str, int], Any]) -> None:
        """Listen on exactly ``wanted``'s keys ((netns, ip, port) -> resolver: () -> (netns, host, port))."""
        asyncio.run_coroutine_threadsafe(self._sync(wanted), self.loop).result(timeout=30)

    async def _sync(self, wanted: dict[tuple[str | None, str, int], Any]) -> None:
        for key in list(self.servers):
            if key not in wanted and key[2] != -1:  # -1: the proxy (serve_proxy), not a Service
                self.servers.pop(key).close()
        for key, resolve in wanted.items():
            if key in self.servers:
                self.servers[key].resolve = resolve  # type: ignore[attr-defined]
                continue
            netns, host, port = key
            try:
                with in_netns(netns):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(128)
                sock.setblocking(False)
            except OSError as err:
                if key not in self.failed:
                    print(f"process pods: cannot listen on {host}:{port} ({netns or 'host'}): {err}", flush=True)
                    self.failed.add(key)
                continue
            holder: dict[str, Any] = {"resolve": resolve}

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             holder: dict[str, Any] = holder) -> None:
                await self._relay(holder["server"].resolve, reader, writer)

            server = await asyncio.start_server(handle, sock=sock)
            server.resolve = resolve  # type: ignore[attr-defined]
            holder["server"] = server
            self.servers[key] = server

    async def _relay(self, resolve: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = resolve()
        if target is None:
            writer.close()
            return
        netns, host, port = target
        try:
            with in_netns(netns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            await asyncio.wait_for(self.loop.sock_connect(sock, (host, port)), 10)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError):
            writer.close()
            return
        await self._pipe_both(reader, writer, up_reader, up_writer)

    def serve_proxy(self, lookup: Any) -> int:
        """An HTTP proxy on the host's loopback into the plane's Services, for what runs outside the pod network
        (the operator's serving check): absolute-URI requests (websocket upgrades included) and CONNECT, to
        ``<service>.<namespace>.svc`` names only; ``lookup(name)`` gives the Service's cluster IP or None. Returns
        its port."""
        async def start() -> int:
            server = await asyncio.start_server(lambda r, w: self._proxy(lookup, r, w), "127.0.0.1", 0)
            self.servers[(None, "127.0.0.1", -1)] = server
            return int(server.sockets[0].getsockname()[1])
        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    async def _proxy(self, lookup: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def refuse(status: str) -> None:
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            writer.close()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = line.decode("latin-1").split(" ")
        except ValueError:
            return refuse("400 Bad Request")
        if method == "CONNECT":
            authority, path = target, ""
        elif target.startswith(("http://", "ws://")):  # aiohttp asks for a websocket by its ws:// URL
            authority, _, path = target.split("://", 1)[1].partition("/")
            path = "/" + path
        else:
            return refuse("400 Bad Request")
        host, _, port_text = authority.partition(":")
        address = lookup(host)
        if address is None:
            return refuse("403 Forbidden")  # only the plane's Services: nothing outside its namespace
        try:
            with in_netns(self.plane_ns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            await asyncio.wait_for(self.loop.sock_connect(sock, (address, int(port_text or 80))), 10)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError, ValueError):
            return refuse("502 Bad Gateway")
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            headers = [h for h in rest.split(b"\r\n") if h and not h.lower().startswith(b"proxy-")]
            if not any(h.lower().startswith(b"upgrade:") for h in headers):
                # One request per connection: what follows on a kept-alive one would reach the Service unrewritten.
                headers = [h for h in headers if not h.lower().startswith((b"connection:", b"keep-alive:"))]
                headers.append(b"Connection: close")
            up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers)
                            + b"\r\n\r\n")
        await self._pipe_both(reader, writer, up_reader, up_writer)

    @staticmethod
    async def _pipe_both(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, RuntimeError):
                dst.write_eof()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers.values():
                server.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)


# -- pods ------------------------------------------------------------------------------------------------
class PodNotReady(Exception):
    """The pod cannot start yet (a Secret, ConfigMap or claim missing): said in its status, tried again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclasses.dataclass
class Container:
    spec: dict[str, Any]
    init: bool = False
    proc: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    restarts: int = 0
    last_terminated: dict[str, Any] | None = None
    terminated: dict[str, Any] | None = None
    waiting: tuple[str, str] | None = None
    next_start: float = 0.0
    ready: bool = False
    next_probe: float = 0.0
    probe_successes: int = 0
    probe_failures: int = 0

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def observe(self, ok: bool) -> None:
        """One readiness probe's result, counted as a kubelet counts it: ready after ``successThreshold`` successes
        in a row (default 1), unready only after ``failureThreshold`` failures in a row (default 3). The chart's hub
        and proxy set 1000, so a probe that times out while the hub is busy never takes its Service away."""
        probe = self.spec.get("readinessProbe") or {}
        if ok:
            self.probe_failures, self.probe_successes = 0, self.probe_successes + 1
            if self.probe_successes >= int(probe.get("successThreshold", 1)):
                self.ready = True
        else:
            self.probe_successes, self.probe_failures = 0, self.probe_failures + 1
            if self.probe_failures >= int(probe.get("failureThreshold", 3)):
                self.ready = False

    def status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.proc is not None and self.proc.poll() is None:
            state = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out: dict[str, Any] = {
            "name": self.name, "image": self.spec.get("image", ""), "imageID": "",
            "containerID": f"process://{self.proc.pid}" if self.proc else "",
            "ready": self.ready, "restartCount": self.restarts, "started": "running" in state, "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        return out


class Pod:
    def __init__(self, agent: Agent, obj: dict[str, Any], index: int) -> None:
        self.agent = agent
        self.uid = obj["metadata"]["uid"]
        self.namespace, self.name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.obj = obj
        self.index = index
        self.ip = str(POD_CIDR.network_address + 2 + index)
        self.netns = f"{agent.plane_ns}-{index}"
        self.dir = RUNTIME / agent.plane.name / self.uid
        spec = obj["spec"]
        self.init = [Container(c, init=True) for c in spec.get("initContainers", [])]
        self.containers = [Container(c) for c in spec.get("containers", [])]
        self.prepared = False
        self.pending: tuple[str, str] | None = None
        self.started = now()
        self.last_status: str = ""
        self.stopping_since: float | None = None

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    # -- the sandbox -------------------------------------------------------------------------------------
    def _network(self) -> None:
        ip("netns", "del", self.netns, check=False)
        ip("netns", "add", self.netns)
        veth = f"chv{self.index}"
        ip("-n", self.agent.plane_ns, "link", "del", veth, check=False)
        ip("-n", self.agent.plane_ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
           "netns", self.netns)
        ip("-n", self.agent.plane_ns, "link", "set", veth, "master", "br0", "up")
        ip("-n", self.agent.plane_ns, "neigh", "flush", "to", self.ip, check=False)  # a past pod's address
        ip("-n", self.netns, "link", "set", "lo", "up")
        ip("-n", self.netns, "addr", "add", f"{self.ip}/{POD_CIDR.prefixlen}", "dev", "eth0")
        ip("-n", self.netns, "link", "set", "eth0", "up")
        ip("-n", self.netns, "route", "add", "default", "via", GATEWAY)
        etc = Path("/etc/netns") / self.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions ndots:1\n")
        self.write_hosts()

    def write_hosts(self) -> None:
        """The pod's names, in place (its containers bind this file): its own, and its namespace's Services."""
        lines = ["127.0.0.1 localhost", f"{self.ip} {self.name}"]
        for svc in self.agent.services:
            meta, ip_ = svc["metadata"], svc["spec"].get("clusterIP")
            if not ip_ or ip_ == "None":
                continue
            full = f"{meta['name']}.{meta['namespace']}.svc"
            names = [f"{full}.cluster.local", full, f"{meta['name']}.{meta['namespace']}"]
            if meta["namespace"] == self.namespace:
                names.append(meta["name"])
            lines.append(f"{ip_} {' '.join(names)}")
        text = "\n".join(lines) + "\n"
        hosts = Path("/etc/netns") / self.netns / "hosts"
        if not hosts.exists() or hosts.read_text() != text:
            with open(hosts, "a+") as f:  # the same inode: a running container sees the change
                f.seek(0)
                f.truncate()
                f.write(text)

    def _volumes(self) -> dict[str, Path]:
        api, ns = self.agent.api, self.namespace
        out: dict[str, Path] = {}
        volumes = self.dir / "volumes"
        for vol in self.obj["spec"].get("volumes", []):
            target = volumes / vol["name"]
            if "emptyDir" in vol:
                target.mkdir(parents=True, exist_ok=True)
                self._own(target)
            elif "secret" in vol:
                self._files(target, self._secret(vol["secret"]["secretName"], vol["secret"].get("optional")),
                            vol["secret"].get("items"), vol["secret"].get("defaultMode", 0o644))
            elif "configMap" in vol:
                self._files(target, self._config_map(vol["configMap"]["name"], vol["configMap"].get("optional")),
                            vol["configMap"].get("items"), vol["configMap"].get("defaultMode", 0o644))
            elif "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]["claimName"]
                pvc = api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
                volume = pvc and pvc.get("spec", {}).get("volumeName")
                if not volume or pvc.get("status", {}).get("phase") != "Bound":
                    raise PodNotReady("ClaimNotBound", f"persistentvolumeclaim {claim!r} is not bound")
                pv = api.get(f"/api/v1/persistentvolumes/{volume}") or {}
                host_path = pv.get("spec", {}).get("hostPath", {}).get("path")
                # The host-path provisioner's folder is the volume; any other kind is kept in the plane's folder.
                target = Path(host_path) if host_path else self.agent.plane.dir / "volumes" / volume
                target.mkdir(parents=True, exist_ok=True)
                self._own(target)
            elif "projected" in vol:
                files: dict[str, bytes] = {}
                for source in vol["projected"].get("sources", []):
                    if "serviceAccountToken" in source:
                        files[source["serviceAccountToken"]["path"]] = self._token(source["serviceAccountToken"])
                    elif "configMap" in source:
                        data = self._config_map(source["configMap"]["name"], source["configMap"].get("optional"))
                        files.update(self._pick(data, source["configMap"].get("items")))
                    elif "secret" in source:
                        data = self._secret(source["secret"]["name"], source["secret"].get("optional"))
                        files.update(self._pick(data, source["secret"].get("items")))
                    elif "downwardAPI" in source:
                        files.update({i["path"]: self.field(i["fieldRef"]["fieldPath"]).encode()
                                      for i in source["downwardAPI"].get("items", []) if "fieldRef" in i})
                self._files(target, files, None, vol["projected"].get("defaultMode", 0o644))
            elif "downwardAPI" in vol:
                files = {i["path"]: self.field(i["fieldRef"]["fieldPath"]).encode()
                         for i in vol["downwardAPI"].get("items", []) if "fieldRef" in i}
                self._files(target, files, None, vol["downwardAPI"].get("defaultMode", 0o644))
            else:
                kind = next((k for k in vol if k != "name"), "?")
                raise PodNotReady("VolumeNotSupported",
                                  f"volume {vol['name']!r}: process pods do not mount {kind} volumes")
            out[vol["name"]] = target
        return out

    def _own(self, path: Path) -> None:
        ctx = self.obj["spec"].get("securityContext", {})
        uid, gid = ctx.get("runAsUser"), ctx.get("fsGroup", ctx.get("runAsGroup"))
        if uid is None:
            uid = next((software_for(c.spec.get("image", "")).uid for c in self.containers), 0)
        with contextlib.suppress(OSError):
            os.chown(path, uid, gid if gid is not None else uid)

    def _source(self, kind: str, name: str, optional: bool | None) -> dict[str, Any]:
        """A Secret or ConfigMap the pod reads (``kind``: "secret" or "configmap"); {} for a missing optional one,
        and the pod waits for a missing required one, as the kubelet does."""
        obj = self.agent.api.get(f"/api/v1/namespaces/{self.namespace}/{kind}s/{name}")
        if obj is None and not optional:
            raise PodNotReady("CreateContainerConfigError", f"{kind} {name!r} not found")
        return obj or {}

    def _secret(self, name: str, optional: bool | None) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in self._source("secret", name, optional).get("data", {}).items()}

    def _config_map(self, name: str, optional: bool | None) -> dict[str, bytes]:
        obj = self._source("configmap", name, optional)
        return {**{k: v.encode() for k, v in obj.get("data", {}).items()},
                **{k: base64.b64decode(v) for k, v in obj.get("binaryData", {}).items()}}

    @staticmethod
    def _pick(data: dict[str, bytes], items: list[dict[str, Any]] | None) -> dict[str, bytes]:
        if not items:
            return data
        return {i["path"]: data[i["key"]] for i in items if i["key"] in data}

    def _files(self, target: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None, mode: int) -> None:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        gid = self.obj["spec"].get("securityContext", {}).get("fsGroup")
        for rel, content in self._pick(data, items).items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode if gid is None else mode | 0o040)
            if gid is not None:
                os.chown(path, 0, gid)

    def _token(self, source: dict[str, Any]) -> bytes:
        account = self.obj["spec"].get("serviceAccountName") or "default"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": max(int(source.get("expirationSeconds", 3607)), 86400),
                         **({"audiences": [source["audience"]]} if source.get("audience") else {}),
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": self.name,
                                            "uid": self.uid}}}
        out = self.agent.api.call("POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
                                  body)
        return str(out["status"]["token"]).encode()

    def field(self, path: str) -> str:
        meta = self.obj["metadata"]
        simple = {"metadata.name": self.name, "metadata.namespace": self.namespace, "metadata.uid": self.uid,
                  "spec.nodeName": self.obj["spec"].get("nodeName", ""), "spec.serviceAccountName":
                  self.obj["spec"].get("serviceAccountName", "default"), "status.podIP": self.ip,
                  "status.hostIP": "127.0.0.1", "status.podIPs": self.ip, "status.hostIPs": "127.0.0.1"}
        if path in simple:
            return simple[path]
        if m := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
            return str(meta.get(m.group(1), {}).get(m.group(2), ""))
        if path in ("metadata.labels", "metadata.annotations"):
            return "\n".join(f'{k}="{v}"' for k, v in sorted(meta.get(path.split(".")[1], {}).items()))
        return ""

    # -- containers --------------------------------------------------------------------------------------
    def _env(self, spec: dict[str, Any], software: Software) -> dict[str, str]:
        env: dict[str, str] = {"PATH": f"{software.bin_dir}:{STANDARD_PATH}" if software.bin_dir else STANDARD_PATH,
                               "HOSTNAME": self.name, **dict(software.env)}
        if self.obj["spec"].get("enableServiceLinks", True):
            for svc in self.agent.services:
                meta = svc["metadata"]
                if meta["namespace"] != self.namespace or svc["spec"].get("clusterIP") in (None, "", "None"):
                    continue
                prefix = env_name(meta["name"])
                ports = svc["spec"].get("ports", [])
                env[f"{prefix}_SERVICE_HOST"] = svc["spec"]["clusterIP"]
                if ports:
                    env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
                for port in ports:
                    if port.get("name"):
                        env[f"{prefix}_SERVICE_PORT_{env_name(port['name'])}"] = str(port["port"])
        env.update({"KUBERNETES_SERVICE_HOST": API_SERVICE_IP, "KUBERNETES_SERVICE_PORT": "443",
                    "KUBERNETES_SERVICE_PORT_HTTPS": "443"})
        for source in spec.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self._config_map(source["configMapRef"]["name"], source["configMapRef"].get("optional"))
            else:
                data = self._secret(source["secretRef"]["name"], source["secretRef"].get("optional"))
            env.update({prefix + k: v.decode(errors="replace") for k, v in data.items()})
        for var in spec.get("env", []):
            if "valueFrom" not in var:
                env[var["name"]] = expand(var.get("value", ""), env)
                continue
            ref = var["valueFrom"]
            value: str | None
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                raw = self._secret(r["name"], r.get("optional")).get(r["key"])
                if raw is None and not r.get("optional"):
                    raise PodNotReady("CreateContainerConfigError", f"key {r['key']!r} not in secret {r['name']!r}")
                value = raw.decode(errors="replace") if raw is not None else None
            elif "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                raw = self._config_map(r["name"], r.get("optional")).get(r["key"])
                if raw is None and not r.get("optional"):
                    raise PodNotReady("CreateContainerConfigError",
                                      f"key {r['key']!r} not in configmap {r['name']!r}")
                value = raw.decode(errors="replace") if raw is not None else None
            elif "fieldRef" in ref:
                value = self.field(ref["fieldRef"]["fieldPath"])
            else:
                value = _resource(spec, ref.get("resourceFieldRef", {}))
            if value is not None:
                env[var["name"]] = value
        return env

    def _launch(self, container: Container, volumes: dict[str, Path]) -> None:
        spec = container.spec
        software = software_for(spec.get("image", ""))
        if software.bin_dir is not None and not software.bin_dir.exists():
            container.waiting = ("ImageSoftwareMissing",
                                 f"the software of image {spec.get('image')!r} is not built here: {software.build}")
            return
        env = self._env(spec, software)
        command = [expand(a, env) for a in spec.get("command", [])] or list(software.entrypoint)
        args = [expand(a, env) for a in spec.get("args", [])] if "args" in spec or spec.get("command") else []
        if not spec.get("command") and "args" not in spec:
            args = list(software.cmd)
        argv = command + args
        if not argv:
            container.waiting = ("RunContainerError", "no command: neither the container nor its image gives one")
            return
        pod_ctx, ctx = self.obj["spec"].get("securityContext", {}), spec.get("securityContext", {})
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", software.uid))
        gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", uid if uid else 0))
        groups = sorted({*pod_ctx.get("supplementalGroups", []),
                         *([pod_ctx["fsGroup"]] if "fsGroup" in pod_ctx else [])})
        mounts = []
        for m in spec.get("volumeMounts", []):
            if m["name"] not in volumes:
                continue
            src = volumes[m["name"]]
            if sub := m.get("subPath"):
                src = src / expand(sub, env)
                if not src.exists():
                    src.mkdir(parents=True)
                    self._own(src)
            mounts.append({"src": str(src), "dst": m["mountPath"], "readOnly": bool(m.get("readOnly"))})
        scratch = self.dir / "containers" / container.name
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(parents=True)
        folders = []
        if software.home and not any(m["dst"].rstrip("/") == software.home for m in mounts):
            home = self.dir / "homes" / container.name
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, uid, gid)
            folders.append({"path": software.home, "src": str(home)})
        launch = {"argv": argv, "env": env, "hostname": self.obj["spec"].get("hostname") or self.name[:63],
                  "cwd": spec.get("workingDir") or software.workdir, "uid": uid,
                  "gid": gid, "groups": groups, "mounts": mounts, "folders": folders, "scratch": str(scratch),
                  "etc": {f"/etc/{n}": str(Path("/etc/netns") / self.netns / n) for n in ("hosts", "resolv.conf")}}
        spec_file = scratch / "launch.json"
        spec_file.write_text(json.dumps(launch))
        spec_file.chmod(0o600)
        log = open(self.agent.logs / f"{self.namespace}_{self.name}_{container.name}.log", "ab")  # noqa: SIM115
        log.write(f"--- {now()} start {' '.join(argv)}\n".encode())
        log.flush()
        container.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, "-I", str(Path(__file__).with_name("podexec.py")),
             str(spec_file)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        container.started_at, container.terminated, container.waiting = now(), None, None
        container.ready, container.probe_successes, container.probe_failures = False, 0, 0
        probe = spec.get("readinessProbe") or {}
        container.next_probe = time.monotonic() + float(probe.get("initialDelaySeconds", 0))

    def step(self) -> None:
        """Move the pod on: prepare it, run its init containers in order, keep its containers running."""
        if not self.prepared:
            try:
                self._network()
                self.volumes = self._volumes()
                for c in [*self.init, *self.containers]:
                    self._env(c.spec, software_for(c.spec.get("image", "")))  # every reference resolves
            except PodNotReady as err:
                self.pending = (err.reason, err.message)
                for c in [*self.init, *self.containers]:
                    c.waiting = (err.reason, err.message)
                return
            self.prepared, self.pending = True, None
        policy = self.obj["spec"].get("restartPolicy", "Always")
        for c in self.init:
            if c.terminated and c.terminated.get("exitCode") == 0:
                continue
            self._keep(c, "Never" if policy == "Never" else "OnFailure")
            return
        for c in self.containers:
            self._keep(c, policy)
            self._probe(c)

    def _keep(self, c: Container, policy: str) -> None:
        if c.proc is None:
            if c.terminated is None and time.monotonic() >= c.next_start:
                self._launch(c, self.volumes)
            return
        code = c.proc.poll()
        if code is None:
            return
        signalled = code < 0
        c.last_terminated = {"exitCode": 128 - code if signalled else code,
                             "reason": "Completed" if code == 0 else "Error", "startedAt": c.started_at,
                             "finishedAt": now(), "containerID": f"process://{c.proc.pid}"}
        c.proc, c.ready = None, False
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if restart:
            backoff = min(10 * 2 ** c.restarts, 300) if c.restarts else 1
            c.restarts += 1
            c.next_start = time.monotonic() + backoff
            c.waiting = ("CrashLoopBackOff", f"back-off {backoff}s restarting failed container={c.name} pod="
                                             f"{self.name}") if code != 0 else None
        else:
            c.terminated = c.last_terminated
            c.last_terminated = None

    def _probe(self, c: Container) -> None:
        if c.proc is None or c.proc.poll() is not None:
            c.ready = False
            return
        probe = c.spec.get("readinessProbe")
        if not probe:
            c.ready = True
            return
        if time.monotonic() < c.next_probe:
            return
        c.next_probe = time.monotonic() + float(probe.get("periodSeconds", 10))
        action = probe.get("httpGet") or probe.get("tcpSocket")
        if action is None:  # exec probes are not run: ready once started
            c.ready = True
            return
        port = _port(c.spec, action["port"])
        try:
            with in_netns(self.agent.plane_ns):
                sock = socket.create_connection((self.ip, port), timeout=float(probe.get("timeoutSeconds", 1)))
            with sock:
                if "httpGet" in probe:
                    path = action.get("path", "/")
                    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {self.ip}:{port}\r\n\r\n".encode())
                    first = sock.recv(64).split(b" ")
                    ok = len(first) > 1 and first[1][:1] in (b"2", b"3")
                else:
                    ok = True
        except OSError:
            ok = False
        c.observe(ok)

    def status(self) -> dict[str, Any]:
        running = [c for c in self.containers if c.proc is not None and c.proc.poll() is None]
        done = [c for c in self.containers if c.terminated is not None]
        initialized = all(c.terminated and c.terminated.get("exitCode") == 0 for c in self.init)
        ready = bool(self.containers) and all(c.ready for c in self.containers)
        if self.containers and len(done) == len(self.containers):
            phase = "Succeeded" if all(c.terminated.get("exitCode") == 0 for c in done if c.terminated) else "Failed"
        elif running or any(c.restarts for c in self.containers):
            phase = "Running"
        else:
            phase = "Pending"

        def cond(kind: str, ok: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": self.started}

        return {
            "phase": phase, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": self.ip,
            "podIPs": [{"ip": self.ip}], "startTime": self.started,
            "conditions": [cond("PodReadyToStartContainers", self.prepared), cond("Initialized", initialized),
                           cond("ContainersReady", ready), cond("Ready", ready), cond("PodScheduled", True)],
            "containerStatuses": [c.status() for c in self.containers],
            **({"initContainerStatuses": [c.status() for c in self.init]} if self.init else {}),
        }

    def report(self) -> None:
        status = self.status()
        text = json.dumps(status, sort_keys=True)
        if text != self.last_status:
            with contextlib.suppress(urllib.error.HTTPError):
                self.agent.api.patch_status(self.path, status)
                self.last_status = text

    def _running(self) -> list[subprocess.Popen[bytes]]:
        return [c.proc for c in [*self.init, *self.containers] if c.proc is not None and c.proc.poll() is None]

    def terminate(self, grace: float) -> bool:
        """A deleted pod's end, as a kubelet does it without stopping its other work: SIGTERM to its processes the
        first time, SIGKILL to what is left once ``grace`` seconds have passed. True once nothing of it runs."""
        procs = self._running()
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            procs = self._running()
        if procs and time.monotonic() - self.stopping_since >= grace:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            procs = []
        return not procs

    def kill(self, grace: float) -> None:
        """The same, waiting for it (the agent's own shutdown)."""
        while not self.terminate(grace):
            time.sleep(0.1)

    def remove(self) -> None:
        ip("-n", self.agent.plane_ns, "link", "del", f"chv{self.index}", check=False)
        ip("netns", "del", self.netns, check=False)
        shutil.rmtree(Path("/etc/netns") / self.netns, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def stand_in_port(svc: dict[str, Any]) -> int | None:
    """The host port a stand-in Service is relayed to: a Service of ``STAND_INS_NAMESPACE`` (which tenants cannot
    write) annotated ``STAND_IN_ANNOTATION: <port>`` reaches a server the tests run on the host's 127.0.0.1 (an
    identity provider's stand-in), so a hub's authenticator calls it by the Service's name, as it would call the
    real one. Any other Service is relayed to pods only."""
    meta = svc["metadata"]
    text = (meta.get("annotations") or {}).get(STAND_IN_ANNOTATION)
    if meta.get("namespace") != STAND_INS_NAMESPACE or not text or not text.isdigit():
        return None
    return int(text)


def _port(spec: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in spec.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise OSError(f"no port named {port!r}")


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
          "Ti": 2**40, "m": 0.001}


def _resource(spec: dict[str, Any], ref: dict[str, Any]) -> str | None:
    """A resourceFieldRef's value as a kubelet gives it (limits.memory in bytes, limits.cpu in cores, up)."""
    kind, _, name = ref.get("resource", "").partition(".")
    raw = spec.get("resources", {}).get(kind, {}).get(name)
    if raw is None:
        return None
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(raw))
    if not m:
        return str(raw)
    value = float(m.group(1)) * _UNITS.get(m.group(2), 1)
    divisor = m2.group(1) if (m2 := re.fullmatch(r"([0-9.]+)", str(ref.get("divisor", "1")))) else "1"
    return str(int(-(-value // float(divisor))))


# -- the agent -------------------------------------------------------------------------------------------
class Agent:
    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.plane = plane
        self.api = Api(plane)
        self.nodes = node_names(plane.name)
        self.shapes: dict[str, PoolNode] = {}  # the pool nodes (sync_pools), by node name
        self.pools_stamp = -1
        self.plane_ns = f"chub-{plane.name}"[:40]
        self.logs = plane.dir / "logs" / "process-pods"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pods: dict[str, Pod] = {}
        self.services: list[dict[str, Any]] = []
        self.free = list(range(1, 4000))
        self.stopping = False
        self.api_port = int(plane.server.rsplit(":", 1)[1])

    def setup(self) -> None:
        cleanup(self.plane.name)
        ip("netns", "add", self.plane_ns)
        ip("-n", self.plane_ns, "link", "set", "lo", "up")
        add_bridge(self.plane_ns)
        ip("-n", self.plane_ns, "route", "add", "local", controlplane.SERVICE_CIDR, "dev", "lo")
        self.relays = Relays(self.plane_ns)
        port = self.relays.serve_proxy(self.cluster_ip)
        proxy_file(self.plane).write_text(f"http://127.0.0.1:{port}\n")
        self.register()

    def cluster_ip(self, host: str) -> str | None:
        """A Service's cluster IP by its DNS name (<name>.<namespace>[.svc[.cluster.local]]), else None."""
        parts = host.lower().removesuffix(".cluster.local").removesuffix(".svc").split(".")
        if len(parts) != 2:
            return None
        for svc in self.services:
            meta = svc["metadata"]
            if (meta["name"], meta["namespace"]) == (parts[0], parts[1]):
                address = svc["spec"].get("clusterIP")
                return address if address not in (None, "", "None") else None
        return None

    def register(self, nodes: list[str] | None = None) -> None:
        for node in self.nodes if nodes is None else nodes:
            # A pool node is a process node with its pool's labels: KubeSpawner adds a profile's node selector to
            # the class's (which asks for process nodes), as it adds a pool's to a real class's.
            shape = self.shapes.get(node)
            labels = {**(shape.labels if shape is not None else {}), NODE_LABEL: "true"}
            body = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node, "labels": {
                        "kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                        **labels, "hub.jupyter.org/node-purpose": self.nodes[node]}},
                    "spec": {"taints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}]}}
            with contextlib.suppress(urllib.error.HTTPError):
                self.api.call("POST", "/api/v1/nodes", body)
            self._heartbeat(node)

    def sync_pools(self) -> None:
        """Take on the pool nodes of the plane's pools file (add_pools) as it changes, and let go of those it no
        longer lists (their Node objects deleted; their pods' processes go as pods of no node of this agent's)."""
        path = pools_file(self.plane)
        stamp = path.stat().st_mtime_ns if path.exists() else 0
        if stamp == self.pools_stamp:
            return
        self.pools_stamp = stamp
        wanted = read_pools(self.plane)
        for node in [n for n in self.shapes if n not in wanted]:
            self.shapes.pop(node)
            self.nodes.pop(node, None)
            with contextlib.suppress(urllib.error.HTTPError):
                self.api.call("DELETE", f"/api/v1/nodes/{node}")
        new = [n for n in wanted if n not in self.shapes]
        for node, shape in wanted.items():
            self.shapes[node] = shape
            self.nodes[node] = "user"
        self.register(new)
        if new:
            print(f"process pods: pool nodes {', '.join(new)} ready", flush=True)

    def heartbeat(self) -> None:
        for node in self.nodes:
            self._heartbeat(node)

    def _heartbeat(self, node: str) -> None:
        t = now()
        shape = self.shapes.get(node, PoolNode())
        capacity = {"cpu": shape.cpu, "memory": shape.memory, "pods": "110", "ephemeral-storage": "100Gi",
                    **({"nvidia.com/gpu": str(shape.gpus)} if shape.gpus else {})}
        self.api.patch_status(f"/api/v1/nodes/{node}", {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}],
            "nodeInfo": {"kubeletVersion": "v1.36.3-process", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "process://1", "kernelVersion": os.uname().release,
                         "osImage": "process pods", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "process pods run here", "lastHeartbeatTime": t, "lastTransitionTime": t}]})

    # -- Services ----------------------------------------------------------------------------------------
    def resolver(self, svc: dict[str, Any], port: dict[str, Any]) -> Any:
        ns, selector = svc["metadata"]["namespace"], svc["spec"].get("selector") or {}
        if svc["metadata"]["name"] == "kubernetes" and ns == "default":
            return lambda: (None, "127.0.0.1", self.api_port)
        if (host_port := stand_in_port(svc)) is not None:
            return lambda: (None, "127.0.0.1", host_port)
        target = port.get("targetPort", port["port"])

        def resolve() -> tuple[str | None, str, int] | None:
            if not selector:
                return None
            for pod in list(self.pods.values()):
                labels = pod.obj["metadata"].get("labels", {})
                if pod.namespace != ns or pod.stopping_since is not None or \
                        any(labels.get(k) != v for k, v in selector.items()):
                    continue  # a terminating pod leaves its Services at once, as it leaves their endpoints
                for c in pod.containers:
                    if not c.ready:
                        continue
                    with contextlib.suppress(OSError):
                        return (self.plane_ns, pod.ip, _port(c.spec, target))
            return None
        return resolve

    def sync_services(self) -> None:
        self.services = self.api.call("GET", "/api/v1/services")["items"]
        wanted: dict[tuple[str | None, str, int], Any] = {}
        for svc in self.services:
            spec = svc["spec"]
            for port in spec.get("ports", []):
                if port.get("protocol", "TCP") != "TCP":
                    continue
                resolve = self.resolver(svc, port)
                if spec.get("clusterIP") not in (None, "", "None"):
                    wanted[(self.plane_ns, spec["clusterIP"], int(port["port"]))] = resolve
                if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
                    wanted[(None, "127.0.0.1", int(port["nodePort"]))] = resolve
        self.relays.sync(wanted)
        for pod in self.pods.values():
            if pod.prepared:
                pod.write_hosts()

    # -- pods --------------------------------------------------------------------------------------------
    def sync_pods(self) -> None:
        items = [obj for node in list(self.nodes) for obj in self.api.call(
            "GET", f"/api/v1/pods?fieldSelector={urllib.parse.quote(f'spec.nodeName={node}')}")["items"]]
        seen = set()
        for obj in items:
            uid = obj["metadata"]["uid"]
            seen.add(uid)
            pod = self.pods.get(uid)
            if pod is None:
                if obj.get("metadata", {}).get("deletionTimestamp"):
                    self._confirm_deleted(obj)
                    continue
                if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                pod = self.pods[uid] = Pod(self, obj, self.free.pop(0))
            pod.obj = obj
            if obj["metadata"].get("deletionTimestamp"):
                grace = float(obj["metadata"].get("deletionGracePeriodSeconds") or 0)
                if pod.terminate(min(grace, 10.0)):  # else looked at again on the next pass
                    self._forget(pod)
                    self._confirm_deleted(obj)
                continue
            pod.step()
            pod.report()
        for uid in [u for u in self.pods if u not in seen]:
            pod = self.pods[uid]
            pod.kill(2.0)
            self._forget(pod)

    def _forget(self, pod: Pod) -> None:
        pod.remove()
        self.pods.pop(pod.uid, None)
        self.free.append(pod.index)  # reused last: an address is not handed on while peers may still cache it

    def _confirm_deleted(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(urllib.error.HTTPError):
            self.api.call("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                          {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def run(self) -> None:
        def stop(*_: Any) -> None:
            self.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.setup()
        print(f"process pods: nodes {', '.join(self.nodes)} ready (pods on {POD_CIDR} in {self.plane_ns})", flush=True)
        last_beat = time.monotonic()
        try:
            while not self.stopping:
                began = time.monotonic()
                try:
                    self.sync_pools()
                    self.sync_services()
                    self.sync_pods()
                    if time.monotonic() - last_beat > 10:
                        self.heartbeat()
                        last_beat = time.monotonic()
                except (urllib.error.URLError, OSError, TimeoutError) as err:
                    print(f"process pods: {err}", flush=True)
                if (took := time.monotonic() - began) > SLOW_PASS_SECONDS:  # probes and restarts waited that long
                    print(f"process pods: a pass took {took:.1f}s", flush=True)
                time.sleep(1.0)
        finally:
            for pod in list(self.pods.values()):
                pod.kill(5.0)
                pod.remove()
            self.relays.stop()
            cleanup(self.plane.name)


def node_names(plane: str) -> dict[str, str]:
    """The agent's nodes and their purpose (the JupyterHub chart requires core pods and user pods apart)."""
    return {f"process-{plane}-core": "core", f"process-{plane}-user": "user"}


@dataclasses.dataclass(frozen=True)
class PoolNode:
    """A node of a provider's node pool, stood in by a process node: the pool's labels (what a profile's node
    selector asks for, such as ``node.kubernetes.io/instance-type``) and its capacity, GPUs included, so the
    scheduler places a profile's pod as the pool's nodes would take it. Its pods run as every process pod does
    (a GPU is only counted: nothing here has one)."""

    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    cpu: str = "8"
    memory: str = "32Gi"
    gpus: int = 0


def pools_file(plane: controlplane.ControlPlane) -> Path:
    return plane.dir / "process-pods-pools.json"


def pool_node_name(plane: str, pool: str) -> str:
    return f"process-{plane}-pool-{pool}"


def read_pools(plane: controlplane.ControlPlane) -> dict[str, PoolNode]:
    """The pool nodes the plane's pools file lists, by node name."""
    path = pools_file(plane)
    raw = json.loads(path.read_text()) if path.exists() else {}
    return {pool_node_name(plane.name, name): PoolNode(**shape) for name, shape in raw.items()}


def add_pools(plane: controlplane.ControlPlane, pools: dict[str, PoolNode], timeout: float = 30.0) -> list[str]:
    """Give the running agent a process node per pool (by pool name) beside its own, and wait until they are
    Ready; return their names. A later call replaces the set (``{}`` removes them)."""
    path = pools_file(plane)
    gone = [n for n in read_pools(plane) if n not in {pool_node_name(plane.name, p) for p in pools}]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({name: dataclasses.asdict(shape) for name, shape in pools.items()}, indent=2))
    tmp.replace(path)
    return _wait_nodes(plane, [pool_node_name(plane.name, name) for name in pools], timeout, gone)


def _wait_nodes(plane: controlplane.ControlPlane, nodes: list[str], timeout: float,
                gone: list[str] | None = None) -> list[str]:
    """Wait until every one of ``nodes`` is Ready and each of ``gone`` is deleted; return ``nodes``."""
    api = Api(plane)

    def ready(node: str) -> bool:
        conditions = (api.get(f"/api/v1/nodes/{node}") or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(ready(n) for n in nodes) and not any(api.get(f"/api/v1/nodes/{n}") for n in gone or []):
            return nodes
        time.sleep(0.3)
    raise TimeoutError(f"nodes {nodes} not Ready; see {plane.dir / 'logs' / 'process-pods.log'}")


def proxy_file(plane: controlplane.ControlPlane) -> Path:
    return plane.dir / "process-pods-proxy"


def proxy_url(plane: controlplane.ControlPlane) -> str:
    """The agent's HTTP proxy into the plane's Services (Relays.serve_proxy), for the operator's
    CHUB_CLUSTER_HTTP_PROXY."""
    return proxy_file(plane).read_text().strip()


def cleanup(plane: str) -> None:
    """Remove what an agent of this plane left: its namespaces and runtime folder (its processes die with it)."""
    prefix = f"chub-{plane}"[:40]
    netns = Path("/run/netns")
    for entry in netns.glob(f"{prefix}*") if netns.exists() else []:
        if entry.name == prefix or entry.name.startswith(prefix + "-"):
            ip("netns", "del", entry.name, check=False)
            shutil.rmtree(Path("/etc/netns") / entry.name, ignore_errors=True)
    shutil.rmtree(RUNTIME / plane, ignore_errors=True)


def available() -> str | None:
    """Why process pods cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "process pods need root (network and mount namespaces)"
    if shutil.which("ip") is None or shutil.which("mount") is None:
        return "process pods need iproute2's ip and util-linux's mount"
    missing = [s.build for s in SOFTWARE if s.bin_dir is not None and not s.bin_dir.exists()]
    if missing:
        return f"the software of the chart's images is not built: {missing[0]}"
    return None


def start(plane: controlplane.ControlPlane, timeout: float = 30.0) -> list[str]:
    """Start the agent as one of the plane's processes (stopped with it), or find it running; return its nodes."""
    state = plane._state() or {}
    if not any(p["name"] == "process-pods" and controlplane._pid_alive(p["pid"], p["binary"])
               for p in state.get("processes", [])):
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        log = open(plane.dir / "logs" / "process-pods.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen([sys.executable, "-m", "localcluster.processpods", "--name", plane.name],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
        log.close()
        state.setdefault("processes", []).append({"name": "process-pods", "pid": proc.pid,
                                                  "binary": sys.executable})
        plane.state_file.write_text(json.dumps(state, indent=2))
    return _wait_nodes(plane, list(node_names(plane.name)), timeout)


def stop(plane: controlplane.ControlPlane) -> None:
    """Stop the agent (its pods' processes with it) and remove its nodes; the plane keeps running."""
    state = plane._state() or {}
    for proc in [p for p in state.get("processes", []) if p["name"] == "process-pods"]:
        if controlplane._pid_alive(proc["pid"], proc["binary"]):
            os.kill(proc["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and controlplane._pid_alive(proc["pid"], proc["binary"]):
                time.sleep(0.1)
    state["processes"] = [p for p in state.get("processes", []) if p["name"] != "process-pods"]
    plane.state_file.write_text(json.dumps(state, indent=2))
    api = Api(plane)
    for node in [*node_names(plane.name), *read_pools(plane)]:
        with contextlib.suppress(urllib.error.HTTPError):
            api.call("DELETE", f"/api/v1/nodes/{node}")
    pools_file(plane).unlink(missing_ok=True)
    cleanup(plane.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster.processpods", description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="dev", help="control plane name")
    args = parser.parse_args(argv)
    Agent(controlplane.ControlPlane(args.name)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
