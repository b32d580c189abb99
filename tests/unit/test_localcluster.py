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
