"""``hubctl compare`` and the comparison under it (issue 31): what users get on two sides of a move, read off
the real chart's hub configuration and compared by what a user meets (a mount by its path and the volume
behind it), not by how each chart names things."""

from __future__ import annotations

import json
from typing import Any

import pytest

from communityhub.adapters import deployer
from communityhub.cli import hubctl
from communityhub.migration import compare
from localcluster import binaries, charts
from tests.conftest import REPO
from tests.unit.test_fleet_sources import FLEET

ANN = {"name": "ann.lee@example.org", "admin": False, "groups": []}


def pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], env: dict[str, str] | None = None,
        **container: Any) -> dict[str, Any]:
    return {"spec": {"volumes": volumes, "containers": [{
        "name": "notebook", "volumeMounts": mounts, "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        **container}]}}


def answer(*pods: dict[str, Any]) -> dict[str, Any]:
    return {"authenticator": {"class": "x"}, "hub": {}, "servers": [
        {"user": "ann", "profile": None, "options": {}, "pod": p} for p in pods]}


def test_volumes_compare_by_what_they_are_not_by_their_names() -> None:
    a = pod([{"name": "home", "persistentVolumeClaim": {"claimName": "home-nfs"}}],
            [{"name": "home", "mountPath": "/home/jovyan", "subPath": "ann"}], {"JUPYTERHUB_API_TOKEN": "t1"})
    b = pod([{"name": "volume-1", "persistentVolumeClaim": {"claimName": "home-nfs"}}],
            [{"name": "volume-1", "mountPath": "/home/jovyan", "subPath": "ann"}], {"JUPYTERHUB_API_TOKEN": "t2"})
    assert compare.compare(answer(a), answer(b)) == []


def test_a_lost_mount_a_changed_subpath_and_a_profile_offered_on_one_side_are_differences() -> None:
    home = [{"name": "home", "persistentVolumeClaim": {"claimName": "home-nfs"}},
            {"name": "shm", "emptyDir": {"medium": "Memory"}}]
    a = pod(home, [{"name": "home", "mountPath": "/home/jovyan", "subPath": "ann-2e"},
                   {"name": "shm", "mountPath": "/dev/shm"}])
    b = pod(home, [{"name": "home", "mountPath": "/home/jovyan", "subPath": "ann-lee"}])
    found = {(d.where, d.path): (d.source, d.hub) for d in compare.compare(answer(a), answer(b))}
    assert found[("server ann/-", "mounts./home/jovyan.subPath")] == ("ann-2e", "ann-lee")
    assert found[("server ann/-", "mounts./dev/shm.volume.emptyDir.medium")] == ("Memory", None)
    extra = answer(a)
    extra["servers"].append({"user": "ann", "profile": "gpu", "options": {}, "pod": a})
    offered = compare.compare(extra, answer(a))
    assert [(d.where, d.path, d.source, d.hub) for d in offered] == [("server ann/gpu", "offered", True, False)]
    assert compare.compare(extra, answer(a), ignore={"server": ("offered",)}) == []


def test_two_loads_of_one_real_hub_compare_equal(probe: Any) -> None:
    """The comparison is not noise: the chart's random secrets and per-server tokens never show up."""
    if not FLEET.is_dir():
        pytest.skip(f"the fleet's configuration is not beside the project ({FLEET})")
    hub = next(h for h in deployer.read_cluster(FLEET / "config" / "clusters" / "2i2c", FLEET / "helm-charts")
               if h.name == "mtu")
    assert compare.compare(probe(hub.values, [ANN], fleet=True), probe(hub.values, [ANN], fleet=True)) == []


def test_hubctl_compare_shows_the_homes_and_class_mounts_of_a_moved_hub_agree(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/fleet/mtu.yaml, translated by hand from the fleet's 2i2c/mtu (issue 20), read right and
    rendered cleanly, yet its users' homes sat under another name and its class dropped /dev/shm and
    /home/rstudio (this test failed so on the example before homeDirectory and the class's keyed mounts).
    Now those agree with the real hub; what still differs is listed in docs/api.md, and exits 1."""
    if not FLEET.is_dir():
        pytest.skip(f"the fleet's configuration is not beside the project ({FLEET})")
    monkeypatch.setenv("CHUB_HELM", str(binaries.ensure(["helm"])["helm"]))
    code = hubctl.main(["compare", "--deployer", str(FLEET / "config" / "clusters" / "2i2c"), "--hub", "mtu",
                        "--charts", str(FLEET / "helm-charts"), "-f", str(REPO / "examples" / "fleet" / "mtu.yaml"),
                        "--classes", str(REPO / "examples" / "fleet" / "classes.yaml"),
                        "--chart", str(charts.jupyterhub_chart().archive), "--user", ANN["name"], "-o", "json"])
    found = json.loads(capsys.readouterr().out)["differences"]
    server = f"server {ANN['name']}/-"
    mounts = [d for d in found if d["where"] == server and d["path"].startswith("mounts.")]
    for path in ("/home/jovyan", "/home/jovyan/shared", "/dev/shm", "/home/rstudio", "/home/rstudio/shared"):
        assert not [d for d in mounts if d["path"].startswith(f"mounts.{path}.")], (path, mounts)
    assert code == 1 and found  # the rest (docs/api.md): not yet equivalent
