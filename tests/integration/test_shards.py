"""Two operator shards of two replicas each serve 20 hubs: each hub by exactly one shard, a killed leader
touches only its own shard, and a relabelled hub is handed over without a second release or a gap."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from communityhub.runtime import sharding
from tests.conftest import LEADER_LEASE_SECONDS, OperatorProcess, oauth_secret
from tests.support.hubs import hub, hub_manifest, hub_ns, ns, onboard, wait_ready
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

HUBS = 20
NAMESPACE = ns("team-shards")
FINALIZERS = {"0": "hubs.2i2c.org/finalizer", "1": "hubs.2i2c.org/finalizer-shard-1"}


def releases(cluster: Cluster, helm: Path) -> dict[str, dict[str, Any]]:
    out = subprocess.run([str(helm), "--kubeconfig", str(cluster.kubeconfig), "list", "-A", "--all", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    return {r["namespace"]: r for r in json.loads(out)}


def helm_runs(log: str, name: str) -> int:
    """Hub releases this process deployed for the hub (its structured 'helm upgrade' lines)."""
    return len(re.findall(rf'"event": "helm upgrade"[^\n]*"hub": "{NAMESPACE}/{name}"|'
                          rf'"hub": "{NAMESPACE}/{name}"[^\n]*"event": "helm upgrade"', log))


def change(cluster: Cluster, name: str, tag: str) -> None:
    """A spec change of the hub: its image."""
    cluster.kubectl("-n", NAMESPACE, "patch", "communityhub", name, "--type=merge", "-p",
                    json.dumps({"spec": {"environment": {"image": f"quay.io/example/climate-notebook:{tag}"}}}))


def delivered(cluster: Cluster, name: str) -> bool:
    """Ready on its current generation."""
    obj = hub(cluster, name, NAMESPACE)
    ready = condition(obj, "Ready")
    return obj is not None and ready is not None and ready["status"] == "True" \
        and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]


def leader(processes: list[OperatorProcess]) -> OperatorProcess:
    leading = [p for p in processes if p.alive() and "Activity 'startup' succeeded" in p.log()]
    assert len(leading) == 1, [p.log_path.name for p in leading]
    return leading[0]


def test_two_shards_split_the_fleet_survive_a_killed_leader_and_hand_a_hub_over(
        management: Cluster, operator: OperatorProcess, helm_bin: Path, tmp_path: Path) -> None:
    operator.stop()  # the session's unsharded operator would serve every hub
    shards: dict[str, list[OperatorProcess]] = {
        shard: [OperatorProcess(operator.kubeconfig, tmp_path / f"shard{shard}-{replica}.log",
                                {**operator.env, "CHUB_SHARDS": "2", "CHUB_SHARD": shard, "CHUB_METRICS_PORT": "0",
                                 "CHUB_HELM_CONCURRENCY": "4"})
                for replica in "ab"] for shard in ("0", "1")}
    everyone = [p for replicas in shards.values() for p in replicas]
    names = [f"s{i:02d}" for i in range(HUBS)]
    try:
        for p in everyone:
            p.start(wait=False)
        for replicas in shards.values():
            wait_for(lambda r=replicas: sum("Activity 'startup' succeeded" in p.log() for p in r) == 1
                     and sum("standing by" in p.log() for p in r) == 1, timeout=60,
                     what="one leader and one standby per shard")

        # Four hubs placed by the provider, the others by the hash of their namespace/name.
        placed = {name: str(i % 2) for i, name in enumerate(names[:4])}
        onboard(management, NAMESPACE)
        for name in names:
            management.apply(oauth_secret(f"{name}-oauth", NAMESPACE))
            manifest = hub_manifest(name, NAMESPACE)
            if name in placed:
                manifest["metadata"]["labels"] = {sharding.LABEL: placed[name]}
            management.apply(manifest)
        for name in names:
            wait_ready(management, name, NAMESPACE, timeout=300)

        # Each hub: on the shard its label (or hash) names, served by that shard alone, one release, one helm run.
        expected = {name: placed.get(name) or sharding.hashed(NAMESPACE, name, 2) for name in names}
        assert set(expected.values()) == {"0", "1"}
        deployed = releases(management, helm_bin)
        logs = {shard: "".join(p.log() for p in replicas) for shard, replicas in shards.items()}
        for name in names:
            obj = hub(management, name, NAMESPACE)
            assert obj is not None
            shard = expected[name]
            assert obj["metadata"]["labels"][sharding.LABEL] == shard and obj["status"]["shard"] == shard
            assert FINALIZERS[shard] in obj["metadata"]["finalizers"]
            assert deployed[hub_ns("team-shards", name)]["revision"] == "1"
            assert (helm_runs(logs[shard], name), helm_runs(logs[str(1 - int(shard))], name)) == (1, 0), name

        # Shard 0's leader killed: shard 1's hubs see no write, shard 1 keeps serving, shard 0 resumes on its standby.
        ones = [n for n in names if expected[n] == "1"]
        zeros = [n for n in names if expected[n] == "0"]
        before = {n: hub(management, n, NAMESPACE)["metadata"]["resourceVersion"] for n in ones}  # type: ignore[index]
        killed = leader(shards["0"])
        killed.kill_everything()
        standby = next(p for p in shards["0"] if p is not killed)
        change(management, ones[0], "shard-1")
        wait_for(lambda: delivered(management, ones[0]), timeout=60,
                 what="shard 1 to deliver a change while shard 0 has no leader")
        wait_for(lambda: "leadership acquired" in standby.log(), timeout=LEADER_LEASE_SECONDS + 30,
                 what="shard 0's standby to take over")
        after = {n: hub(management, n, NAMESPACE)["metadata"]["resourceVersion"] for n in ones[1:]}  # type: ignore[index]
        assert after == {n: before[n] for n in ones[1:]}, "shard 0's failover wrote to shard 1's hubs"
        change(management, zeros[0], "shard-0")
        wait_for(lambda: delivered(management, zeros[0]), timeout=90, what="shard 0's new leader to deliver a change")
        assert helm_runs(standby.log(), zeros[0]) == 1

        # A hub relabelled from shard 0 to shard 1: handed over, no second release, Ready all along.
        moved = zeros[1]
        revision = releases(management, helm_bin)[hub_ns("team-shards", moved)]["revision"]
        ready_since = condition(hub(management, moved, NAMESPACE), "Ready")["lastTransitionTime"]  # type: ignore[index]
        seen: list[tuple[str, str]] = []
        watching = threading.Event()

        def watch_ready() -> None:
            while not watching.is_set():
                ready = condition(hub(management, moved, NAMESPACE), "Ready") or {}
                seen.append((ready.get("status", "?"), ready.get("lastTransitionTime", "?")))
                time.sleep(0.2)
        watcher = threading.Thread(target=watch_ready)
        watcher.start()
        try:
            management.kubectl("-n", NAMESPACE, "label", "communityhub", moved, f"{sharding.LABEL}=1", "--overwrite")
            taken = wait_for(lambda: (h := hub(management, moved, NAMESPACE)) is not None
                             and h["status"].get("shard") == "1" and h["metadata"]["finalizers"] == [FINALIZERS["1"]]
                             and h, timeout=60, what="shard 1 to take the hub over")
            time.sleep(3)  # a resync or two of the new shard
        finally:
            watching.set()
            watcher.join()
        assert seen and set(seen) == {("True", ready_since)}, "the hub's Ready changed during its handover"
        assert releases(management, helm_bin)[hub_ns("team-shards", moved)]["revision"] == revision
        new_leader = leader(shards["1"])
        assert "hub taken over" in new_leader.log() and helm_runs(new_leader.log(), moved) == 0
        assert "hub handed over" in standby.log()
        assert condition(taken, "Ready")["status"] == "True"  # type: ignore[index]
        # ... and its next change is the new shard's.
        change(management, moved, "moved")
        wait_for(lambda: helm_runs(new_leader.log(), moved) == 1, timeout=60, what="shard 1 to deploy the change")
        assert helm_runs(standby.log(), moved) == 0

        for name in names:
            management.kubectl("-n", NAMESPACE, "delete", "communityhub", name, "--wait=false")
        for name in names:
            wait_for(lambda n=name: hub(management, n, NAMESPACE) is None, timeout=180,
                     what=f"{name} to be deleted by its shard")
    finally:
        for p in everyone:
            p.stop()
        operator.start()
