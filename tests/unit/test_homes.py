"""Per-user home quotas (issue 32, part 1), decided in delivery/homes.py: the jupyterhub-home-nfs values the
operator renders fit the real chart's schema and reach its quota enforcer as the spec says; quota keys are the
home directories' names as KubeSpawner makes them; what the class does not offer is refused; the exporters' real
metrics become status.homes and HomeStorage."""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import MetricsHandler

from communityhub.adapters import hubconfig
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.cli import hubctl
from communityhub.delivery import homes, policy
from localcluster import binaries, charts
from tests.conftest import REPO

IMAGE = "quay.io/jupyter/base-notebook:2024-01-15"


def spec(storage: dict[str, Any]) -> CommunityHubSpec:
    doc = list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]["spec"]
    doc = copy.deepcopy(doc)
    doc["environment"] = {"image": IMAGE, "storage": storage}
    return CommunityHubSpec.model_validate(doc)


def hub_class(home_server: dict[str, Any] | None, **shared: Any) -> HubClassSpec:
    storage: dict[str, Any] = {"storageClassName": "standard", "size": "200Gi", **shared}
    if home_server is not None:
        storage["homeServer"] = home_server
    return HubClassSpec.model_validate({"sharedStorage": storage})


QUOTA = {"perUser": "10Gi", "exceptions": [{"users": ["Ada.Lovelace@uni.edu"], "size": "25Gi"},
                                           {"users": ["admin"], "unlimited": True}]}
SHARED = {"type": "sharedNFS", "homeDirectory": "escapedUsername", "quota": QUOTA}


def template(values: dict[str, Any]) -> list[dict[str, Any]]:
    if binaries.find("helm") is None:
        pytest.skip("the helm binary is not built yet: `make binaries` builds it (`make test` does first)")
    return hubconfig.chart_objects(values, charts.home_nfs_chart(), release="lab-homes", namespace="hub-lab")


def enforcer_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    secret = next(o for o in objects if o["kind"] == "Secret")
    return yaml.safe_load(secret["stringData"]["chart-config.yaml"])["config"]["QuotaManager"]


def test_the_servers_values_reach_the_real_charts_quota_enforcer(monkeypatch: pytest.MonkeyPatch) -> None:
    helm = binaries.find("helm")
    if helm is not None:
        monkeypatch.setenv("CHUB_HELM", str(helm))
    home = hub_class({"shareDirectory": "{hub.name}", "values": {"quotaEnforcer": {"config": {"QuotaManager": {
        "wait_time": 10, "quota_overrides": {"someone-else": 99}}}}}}).shared_storage
    assert home is not None and home.home_server is not None
    values = homes.server_values(spec(SHARED), home.home_server, "team", "lab", home.size, home.storage_class_name)
    objects = template(values)
    config = enforcer_config(objects)
    assert config["paths"] == ["/export/lab"] and config["projects_file"] == "/export/lab/.projects"
    assert config["hard_quota"] == 10
    # By directory name, as the hub names homes (escapedUsername); the class's own overrides do not leak in.
    assert config["quota_overrides"] == {"ada-2elovelace-40uni-2eedu": 25}
    assert config["exclude"] == ["admin"]
    assert config["wait_time"] == 10  # the class's setting, where the operator owns none
    claim = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == homes.SERVER
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    assert services == {homes.SERVER, homes.QUOTA_METRICS, homes.DISK_METRICS}


def test_the_real_charts_schema_is_what_checks_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota the chart's schema refuses (a string, not a number) fails the template: the check above is real."""
    helm = binaries.find("helm")
    if helm is not None:
        monkeypatch.setenv("CHUB_HELM", str(helm))
    home = hub_class({}).shared_storage
    assert home is not None and home.home_server is not None
    values = homes.server_values(spec(SHARED), home.home_server, "team", "lab", home.size, home.storage_class_name)
    values["quotaEnforcer"]["config"]["QuotaManager"]["hard_quota"] = "10Gi"
    with pytest.raises(hubconfig.ProbeError, match="hard_quota"):
        template(values)


def test_a_pre_made_cloud_disk_is_the_hubs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    helm = binaries.find("helm")
    if helm is not None:
        monkeypatch.setenv("CHUB_HELM", str(helm))
    disk = "projects/p/zones/z/disks/homes-{hub.name}"
    home = hub_class({"values": {"gke": {"enabled": True}}, "perHubValues": {"gke": {"volumeId": disk}}}).shared_storage
    assert home is not None and home.home_server is not None
    values = homes.server_values(spec(SHARED), home.home_server, "team", "lab", home.size, home.storage_class_name)
    objects = template(values)
    volume = next(o for o in objects if o["kind"] == "PersistentVolume")
    assert volume["spec"]["csi"]["volumeHandle"] == "projects/p/zones/z/disks/homes-lab"
    # Named as the operator's admission policy lets it make one (helm runs as the operator).
    assert volume["metadata"]["name"] == f"lab-homes-{homes.SERVER}"
    claim = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == ""  # bound to that disk, not provisioned


def test_escaped_names_are_kubespawners() -> None:
    """The quota keys are directory names; a key KubeSpawner would not name a home by would quota nobody."""
    try:
        python = hubconfig.hub_python()
    except hubconfig.ProbeError as err:
        pytest.skip(f"{err}")
    names = ["Ada.Lovelace@uni.edu", "bob", "é-ü_x", "UPPER", "a b", "日本"]
    code = ("import sys, string, escapism\n"
            "safe = set(string.ascii_lowercase + string.digits)\n"
            "for n in sys.argv[1:]: print(escapism.escape(n, safe=safe, escape_char='-').lower())\n")
    real = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True).stdout.split()
    assert [homes.escaped(n) for n in names] == real


def test_quotas_the_class_does_not_offer_are_refused() -> None:
    verdict = policy.environment(spec(SHARED), hub_class(None))
    assert (verdict.status, verdict.reason) == ("False", "HomeQuotaUnavailable")
    assert "no per-user quotas" in verdict.message
    verdict = policy.environment(spec(SHARED), hub_class({"maxQuota": "20Gi", "unlimited": True}))
    assert (verdict.status, verdict.reason) == ("False", "HomeQuotaExceedsClass")
    assert "exceptions[0] is 25Gi" in verdict.message
    verdict = policy.environment(spec(SHARED), hub_class({"maxQuota": "50Gi"}))
    assert (verdict.status, verdict.reason) == ("False", "HomeQuotaExceedsClass")
    assert "unlimited" in verdict.message
    assert policy.environment(spec(SHARED), hub_class({"unlimited": True})).status == "Unknown"


def test_a_class_of_pre_made_disks_needs_the_hubs_disk() -> None:
    """Else the chart would mount its placeholder volume id."""
    on_gke = hub_class({"values": {"gke": {"enabled": True}}, "unlimited": True})
    verdict = policy.environment(spec(SHARED), on_gke)
    assert (verdict.status, verdict.reason) == ("False", "HomeDiskMissing")
    with_disk = spec(SHARED).model_copy(deep=True)
    with_disk.placement.home_disk = "projects/p/zones/z/disks/lab"
    assert policy.environment(with_disk, on_gke).status == "Unknown"
    by_rule = hub_class({"values": {"gke": {"enabled": True}}, "unlimited": True,
                         "perHubValues": {"gke": {"volumeId": "projects/p/zones/z/disks/{hub.name}"}}})
    assert policy.environment(spec(SHARED), by_rule).status == "Unknown"


def test_a_claim_already_provisioned_is_not_taken_over() -> None:
    provisioned = {"spec": {"storageClassName": "filestore", "volumeName": "pvc-123"}}
    verdict = homes.claim_conflict(provisioned, "lab-homes")
    assert verdict is not None and verdict.reason == "HomeClaimInUse"
    assert homes.claim_conflict({"spec": {"storageClassName": "", "volumeName": "lab-homes"}}, "lab-homes") is None
    assert homes.claim_conflict(None, "lab-homes") is None


@pytest.fixture
def exporter() -> Iterator[str]:
    """A stand-in for the home server's two exporters: the metric names, labels and units of jupyterhub-home-nfs's
    quota exporter (dirsize_*{directory}) and of the node exporter beside it (node_filesystem_*{mountpoint}),
    served by prometheus_client as the real ones are, on 127.0.0.1."""
    registry = CollectorRegistry()
    used = Gauge("total_size_bytes", "Total Size of the Directory (in bytes)", namespace="dirsize",
                 labelnames=("directory",), registry=registry)
    limit = Gauge("hard_limit_bytes", "Hard Limit of the Directory (in bytes)", namespace="dirsize",
                  labelnames=("directory",), registry=registry)
    gib = 2**30
    for directory, use, cap in (("ada-40uni-2eedu", 25 * gib, 25 * gib), ("bob", 9.5 * gib, 10 * gib),
                                ("carol", 1 * gib, 10 * gib), ("admin", 40 * gib, 0)):
        used.labels(directory=directory).set(use)
        limit.labels(directory=directory).set(cap)
    size = Gauge("node_filesystem_size_bytes", "Filesystem size in bytes.", labelnames=("device", "fstype",
                                                                                       "mountpoint"), registry=registry)
    free = Gauge("node_filesystem_avail_bytes", "Filesystem space available.", labelnames=("device", "fstype",
                                                                                          "mountpoint"),
                 registry=registry)
    for mountpoint, total, left in ((homes.DISK_MOUNTPOINT, 100 * gib, 8 * gib), ("/", 20 * gib, 19 * gib)):
        size.labels(device="/dev/sdb", fstype="xfs", mountpoint=mountpoint).set(total)
        free.labels(device="/dev/sdb", fstype="xfs", mountpoint=mountpoint).set(left)
    server = HTTPServer(("127.0.0.1", 0), MetricsHandler.factory(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def test_the_exporters_metrics_become_the_hubs_home_usage(exporter: str) -> None:
    with urllib.request.urlopen(exporter) as response:
        text = response.read().decode()
    found = homes.usage(text, text)
    summary = homes.summary(found)
    assert summary["homes"] == 4
    assert summary["overQuota"] == ["ada-40uni-2eedu"] and summary["nearQuota"] == ["bob"]
    assert summary["usedBytes"] == int(75.5 * 2**30)
    assert summary["diskSizeBytes"] == 100 * 2**30 and summary["diskFreeBytes"] == 8 * 2**30
    verdict = homes.disk_verdict(found)
    assert (verdict.status, verdict.reason) == ("False", "DiskNearlyFull")
    assert "92% full" in verdict.message and "1 at their quota" in verdict.message
    roomy = homes.usage(text, text.replace("8.589934592e+09", "5.0e+10"))
    assert homes.disk_verdict(roomy).status == "True"
    assert homes.disk_verdict(homes.usage(text)).reason == "DiskUnmeasured"


def test_an_exempt_home_is_never_over_quota() -> None:
    found = homes.HomesUsage((homes.HomeUse("admin", 40.0, 0.0),))
    assert found.over == [] and found.near == []


def test_chart_archive_is_the_upstream_one() -> None:
    archive = charts.home_nfs_chart()
    assert archive.name == f"{charts.HOME_NFS_NAME}-{charts.HOME_NFS_VERSION}.tgz"
    assert Path(archive).is_file()


def _hub_obj(name: str, usage: dict[str, Any] | None, storage: tuple[str, str] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"homes": {"release": f"{name}-homes", "valuesHash": "h", "volume": "v", "share": "s",
                                        **({"usage": usage} if usage else {})}}
    if storage:
        status["conditions"] = [{"type": "HomeStorage", "status": storage[0], "reason": storage[1], "message": "m"}]
    return {"metadata": {"namespace": "team", "name": name}, "status": status}


def test_hubctl_homes_lists_who_needs_attention(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """From status.homes and HomeStorage: a user at quota, a disk nearly full; a quiet hub only with --all."""
    gib = 2**30
    hubs = [
        _hub_obj("full", {"homes": 3, "usedBytes": 90 * gib, "overQuota": [], "nearQuota": [],
                          "diskSizeBytes": 100 * gib, "diskFreeBytes": 5 * gib}, ("False", "DiskNearlyFull")),
        _hub_obj("quota", {"homes": 2, "usedBytes": 12 * gib, "overQuota": ["ada"], "nearQuota": ["bob"],
                           "diskSizeBytes": 100 * gib, "diskFreeBytes": 88 * gib}, ("True", "QuotasEnforced")),
        _hub_obj("quiet", {"homes": 1, "usedBytes": gib, "overQuota": [], "nearQuota": [],
                           "diskSizeBytes": 100 * gib, "diskFreeBytes": 99 * gib}, ("True", "QuotasEnforced")),
        _hub_obj("new", None, ("Unknown", "DiskUnmeasured")),
        {"metadata": {"namespace": "team", "name": "plain"}, "status": {}},
    ]
    monkeypatch.setattr(hubctl, "list_hubs", lambda namespace, all_namespaces=False: hubs)
    assert hubctl.main(["homes", "-A", "-o", "json", "--strict"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [r["hub"] for r in rows] == ["team/full", "team/quota"]
    assert rows[0]["diskUsed"] == "95%" and rows[0]["storage"] == "False DiskNearlyFull"
    assert rows[1]["overQuota"] == ["ada"] and rows[1]["nearQuota"] == ["bob"] and rows[1]["usedGiB"] == 12.0
    assert hubctl.main(["homes", "-A", "--all"]) == 0
    table = capsys.readouterr().out
    assert "team/quiet" in table and "team/new" in table and "team/plain" not in table
    assert "Unknown DiskUnmeasured" in table
