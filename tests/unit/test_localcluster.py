"""Where the control plane's binaries come from, and its certificates."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from localcluster import binaries, pki


def make_exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_env_var_wins_over_path_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = make_exe(binaries.tool_of("etcd").cache_dir / "etcd")
    on_path = make_exe(tmp_path / "path" / "etcd")
    given = make_exe(tmp_path / "given" / "etcd")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert binaries.find("etcd") == on_path
    monkeypatch.setenv("CHUB_ETCD", str(given))
    assert binaries.find("etcd") == given
    monkeypatch.delenv("CHUB_ETCD")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert binaries.find("etcd") == cached


def test_bin_dir_and_bad_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert binaries.find("kube-apiserver") is None
    monkeypatch.setenv("CHUB_BIN_DIR", str(tmp_path / "bin"))
    apiserver = make_exe(tmp_path / "bin" / "kube-apiserver")
    assert binaries.find("kube-apiserver") == apiserver
    monkeypatch.setenv("CHUB_KUBE_APISERVER", str(tmp_path / "missing"))
    with pytest.raises(binaries.BinaryUnavailable, match="CHUB_KUBE_APISERVER"):
        binaries.find("kube-apiserver")


def test_without_go_the_error_says_how_to_get_the_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(binaries.BinaryUnavailable, match=r"Go is not installed.*CHUB_BIN_DIR"):
        binaries.ensure(["kwok"])


def test_every_tool_has_a_pinned_wrapper_module() -> None:
    for tool in binaries.TOOLS:
        module = binaries.TOOLS_DIR / ("kubernetes" if tool.name == "kubectl" else tool.name)
        gomod = (module / "go.mod").read_text()
        assert (module / "go.sum").is_file()
        assert tool.version.lstrip("v") in gomod or (tool.name == "etcd" and "v3.6.16" in gomod)


def test_certificates(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority(tmp_path)
    cert_path, key_path = ca.issue(tmp_path, "admin", "kubernetes-admin", organization="system:masters")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.issuer == ca.cert.subject
    assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    server, _ = ca.issue(tmp_path, "server", "kube-apiserver", server_ips=("127.0.0.1",), server_names=("localhost",))
    sans = x509.load_pem_x509_certificate(server.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    # Reopening the directory reuses the CA instead of minting a new one.
    assert pki.CertificateAuthority(tmp_path).cert == ca.cert


def test_core_nodes_are_sized_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from localcluster import controlplane
    default = [n for n in controlplane.default_nodes() if n.pool == "core"]
    assert len(default) == 4
    assert (default[0].instance_type, default[0].allocatable_cpu, default[0].allocatable_memory) == (
        "n2-standard-4", "3920m", "13900Mi")
    monkeypatch.setenv("CHUB_LOCAL_CORE_NODES", "90")
    monkeypatch.setenv("CHUB_LOCAL_CORE_CPU", "16")
    monkeypatch.setenv("CHUB_LOCAL_CORE_MEMORY_GIB", "64")
    big = [n for n in controlplane.default_nodes() if n.pool == "core"]
    assert len(big) == 90 and {n.zone for n in big} == {"us-central1-a", "us-central1-b", "us-central1-c"}
    assert (big[0].cpu, big[0].memory, big[0].allocatable_cpu, big[0].allocatable_memory) == (
        "16", "64Gi", "15680m", "55600Mi")


def test_the_demos_supervisor_starts_its_command_again_and_stops_with_it(tmp_path: Path) -> None:
    """The demo's operator exits by design when it loses its Lease; the supervisor starts it again (as a kubelet
    would) and, on SIGTERM, stops it before it goes. Real processes: each run of the child appends its pid."""
    import os
    import signal
    import subprocess
    import sys
    import time

    runs = tmp_path / "runs"
    child = f"import os, time; open({str(runs)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(0.3 if " \
            f"len(open({str(runs)!r}).read().split()) < 2 else 60)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "operator")}
    supervisor = subprocess.Popen([sys.executable, "-m", "localcluster.supervise", "--", sys.executable, "-c", child],
                                  env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not runs.exists() or len(runs.read_text().split()) < 2):
            time.sleep(0.1)
        pids = [int(p) for p in runs.read_text().split()]
        assert len(pids) == 2 and pids[0] != pids[1]  # the first run exited, and the command was started again
        os.kill(pids[1], 0)  # the second run is still running
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(20) == 0
        time.sleep(0.2)
        try:
            os.kill(pids[1], 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError(f"the supervised child {pids[1]} outlived its supervisor")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_the_process_pods_proxy_reaches_services_by_name_and_nothing_else() -> None:
    """What the operator's serving check goes through on the local plane (Relays.serve_proxy): a plain request and
    a websocket upgrade reach a Service by its DNS name; any other host is refused before a connection is made.
    Here the "plane" is the host's own network (netns None) and the Service a real aiohttp server on loopback."""
    import asyncio

    import aiohttp
    from aiohttp import web

    from localcluster.processpods import Relays

    async def run() -> dict[str, object]:
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello {request.raw_path}")  # as sent: origin-form, or not

        async def echo(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"echo {message.data}")
                break
            await ws.close()
            return ws

        app = web.Application()
        app.router.add_get("/ws", echo)
        app.router.add_get("/{tail:.*}", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        relays = Relays(None)  # type: ignore[arg-type]
        names = {"web.team.svc": "127.0.0.1"}
        proxy = f"http://127.0.0.1:{relays.serve_proxy(lambda host: names.get(host))}"
        seen: dict[str, object] = {}
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://web.team.svc:{port}/hub/api", proxy=proxy) as resp:
                    seen["plain"] = (resp.status, await resp.text())
                async with session.get(f"http://web.team.svc:{port}/second", proxy=proxy) as resp:
                    seen["second"] = (resp.status, await resp.text())  # a kept-alive client's next request
                async with session.ws_connect(f"ws://web.team.svc:{port}/ws", proxy=proxy) as ws:
                    await ws.send_str("x")
                    seen["ws"] = (await ws.receive()).data
                async with session.get(f"http://example.org:{port}/", proxy=proxy) as resp:
                    seen["outside"] = resp.status
        finally:
            relays.stop()
            await runner.cleanup()
        return seen

    seen = asyncio.run(asyncio.wait_for(run(), 30))
    assert seen["plain"] == (200, "hello /hub/api")
    assert seen["second"] == (200, "hello /second")
    assert seen["ws"] == "echo x"
    assert seen["outside"] == 403


def _process_pod(containers: list[dict[str, object]]) -> object:
    """A process pod without its agent's plane: probes on the host's loopback (netns None)."""
    import types

    from localcluster.processpods import Container, Pod

    pod = Pod.__new__(Pod)
    pod.agent = types.SimpleNamespace(plane_ns=None)  # type: ignore[assignment]
    pod.ip, pod.init, pod.stopping_since = "127.0.0.1", [], None
    pod.containers = [Container(c) for c in containers]
    return pod


def test_a_process_pods_readiness_counts_failures_as_a_kubelet_does() -> None:
    """The JupyterHub chart's hub probe allows 1000 failures: a probe that times out while the hub is busy must not
    take the hub's Service away (CI's served hub lost it for 30 s, and a user's server failed to reach the hub). A
    probe without a threshold goes unready after 3 failures in a row, and ready again after one success."""
    import socket
    import subprocess
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answering = threading.Event()
    answering.set()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                if answering.is_set():
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
                else:
                    time.sleep(0.3)  # past the probe's timeout: a hub too busy to answer in time

    threading.Thread(target=serve, daemon=True).start()
    probe = {"httpGet": {"path": "/hub/health", "port": port}, "periodSeconds": 0, "timeoutSeconds": 0.1}
    pod = _process_pod([{"name": "hub", "readinessProbe": {**probe, "failureThreshold": 1000}},
                        {"name": "plain", "readinessProbe": probe}])
    proc = subprocess.Popen(["sleep", "30"])
    try:
        hub, plain = pod.containers  # type: ignore[attr-defined]
        hub.proc = plain.proc = proc

        def probe_all(times: int) -> tuple[bool, bool]:
            for _ in range(times):
                for c in (hub, plain):
                    pod._probe(c)  # type: ignore[attr-defined]
            return hub.ready, plain.ready

        assert probe_all(1) == (True, True)
        answering.clear()
        assert probe_all(2) == (True, True)  # two failures: both still ready
        assert probe_all(1) == (True, False)  # the third: the plain one is not; the hub's threshold is 1000
        answering.set()
        time.sleep(0.35)  # the slow answer before it is over
        assert probe_all(1) == (True, True)
    finally:
        proc.kill()
        proc.wait()
        listener.close()


def test_a_deleted_process_pod_is_stopped_without_holding_up_the_agent() -> None:
    """A container that ignores SIGTERM: terminate() answers at once (the agent's other pods keep their probes and
    restarts), and SIGKILLs it once its grace period has passed."""
    import subprocess
    import time

    pod = _process_pod([{"name": "stubborn"}])
    (c,) = pod.containers  # type: ignore[attr-defined]
    c.proc = subprocess.Popen(["sh", "-c", "trap '' TERM; echo ignoring; sleep 30"], start_new_session=True,
                              stdout=subprocess.PIPE)
    try:
        assert c.proc.stdout is not None and c.proc.stdout.readline() == b"ignoring\n"  # its trap is set
        began = time.monotonic()
        assert pod.terminate(1.0) is False  # type: ignore[attr-defined]
        assert time.monotonic() - began < 0.5
        time.sleep(0.3)
        assert pod.terminate(1.0) is False and c.proc.poll() is None  # type: ignore[attr-defined]
        time.sleep(0.8)
        assert pod.terminate(1.0) is True and c.proc.poll() is not None  # type: ignore[attr-defined]
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def test_the_process_pods_bridge_keeps_its_address_as_pods_come_and_go() -> None:
    """A Linux bridge without an address of its own takes its lowest port's, so a pod's veth joining or leaving
    changed the gateway's MAC under every other pod (a hub unreachable for 30-40 s after a user's server started).
    The agent's bridge, in a scratch network namespace, with a port of a lower MAC coming and going."""
    import os
    import shutil
    import subprocess
    import uuid

    from localcluster import processpods

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's ip")
    netns = f"chub-test-{uuid.uuid4().hex[:8]}"

    def mac() -> str:
        out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", "br0"], capture_output=True, text=True,
                             check=True).stdout
        return out.split("link/ether ", 1)[1].split()[0]

    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        processpods.add_bridge(netns)
        before = mac()
        for name, address in (("chvtest1", "02:00:00:00:00:09"), ("chvtest2", "00:00:00:00:00:03")):
            subprocess.run(["ip", "-n", netns, "link", "add", name, "address", address, "type", "veth", "peer",
                            "name", f"{name}p"], check=True)
            subprocess.run(["ip", "-n", netns, "link", "set", name, "master", "br0", "up"], check=True)
            assert mac() == before == processpods.GATEWAY_MAC, name
        subprocess.run(["ip", "-n", netns, "link", "del", "chvtest2"], check=True)
        assert mac() == processpods.GATEWAY_MAC
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
