"""A FleetRollout on the local control plane: staging hubs and production hubs; a bump that breaks stops at
staging and leaves production on the old release, a rollback is one delete, a paused rollout starts
nothing until resumed, and a good bump reaches every hub, wave after wave, one hub per cluster at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support.hubs import RUN, create_hub, hub, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

LABEL = "hubs.2i2c.org/rollout"
STAGING, PRODUCTION = ("s1", "s2"), ("p1", "p2")


def rollout(name: str, values: dict[str, Any], paused: bool = False) -> dict[str, Any]:
    return {"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "FleetRollout", "metadata": {"name": name},
            "spec": {"target": {"values": values}, "maxPerCluster": 1, "paused": paused, "waves": [
                {"name": "staging", "matchLabels": {"channel": f"staging-{RUN}"}},
                {"name": "production", "matchLabels": {"channel": f"production-{RUN}"}}]}}


def status_of(management: Cluster, name: str) -> dict[str, Any]:
    found = management.get("fleetrollout", name)
    return dict((found or {}).get("status") or {})


def wait_phase(management: Cluster, name: str, phase: str, timeout: float = 240) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(lambda: (s := status_of(management, name)).get("phase") == phase and s,
                                     timeout=timeout, what=f"FleetRollout {name} {phase}")
    return found


def timeout_of(management: Cluster, obj: dict[str, Any]) -> Any:
    return released_values(management, obj["status"]["names"]["namespace"])["cull"]["timeout"]


def test_waves_halt_on_a_bad_bump_roll_back_pause_and_reach_every_hub(management: Cluster,
                                                                     operator: OperatorProcess) -> None:
    namespace = ns("team-fleet")
    for name in (*STAGING, *PRODUCTION):
        create_hub(management, name, namespace)
        channel = "staging" if name in STAGING else "production"
        management.kubectl("-n", namespace, "label", "communityhub", name, f"channel={channel}-{RUN}")
    hubs = {name: wait_ready(management, name, namespace, timeout=180) for name in (*STAGING, *PRODUCTION)}
    before = {name: obj["status"]["release"]["revision"] for name, obj in hubs.items()}
    base_timeout = timeout_of(management, hubs["p1"])

    # A bump the chart refuses (its values schema): the first staging hub fails, the rollout halts there.
    bad, good, newer = f"bad-{RUN}", f"good-{RUN}", f"newer-{RUN}"
    management.apply(rollout(bad, {"cull": {"timeout": "soon"}}))
    halted = wait_phase(management, bad, "Halted")
    ready = condition({"status": halted}, "Ready")
    assert ready is not None and ready["reason"] == "HubsFailed" and "HelmFailed" in ready["message"]
    assert halted["wave"] == "staging" and halted["waves"][1] == {"name": "production", "total": 2, "done": 0,
                                                                   "inFlight": 0, "failed": []}
    labelled = [n for n in (*STAGING, *PRODUCTION) if hub(management, n, namespace)["metadata"]["labels"].get(LABEL)]
    assert len(labelled) == 1 and labelled[0] in STAGING  # one per cluster at a time: the second never started
    assert f"{namespace}/{labelled[0]}" in ready["message"]
    for name in PRODUCTION:  # production untouched: same release, no label
        obj = hub(management, name, namespace)
        assert obj["status"]["release"]["revision"] == before[name] and LABEL not in obj["metadata"]["labels"]
    table = management.kubectl("get", "fleetrollout", bad).stdout
    assert "Halted" in table and "staging" in table and "0/4" in table

    # The target of a rollout cannot change; a rollback is one delete.
    edit = management.kubectl("patch", "fleetrollout", bad, "--type=merge", "-p",
                              json.dumps({"spec": {"target": {"values": {"cull": {"timeout": 60}}}}}), check=False)
    assert edit.returncode != 0 and "cannot change" in edit.stderr
    management.kubectl("delete", "fleetrollout", bad, "--timeout=60s")
    wait_for(lambda: not hub(management, labelled[0], namespace)["metadata"]["labels"].get(LABEL), timeout=30,
             what="the rollback to take the label off")
    wait_ready(management, labelled[0], namespace, timeout=120)

    # A good bump, started paused: nothing moves until it is resumed.
    management.apply(rollout(good, {"cull": {"timeout": base_timeout + 1}}, paused=True))
    wait_phase(management, good, "Paused", timeout=60)
    resyncs = operator.resyncs()
    wait_for(lambda: operator.resyncs() >= resyncs + 3, timeout=60, what="three resync passes")
    assert not any(hub(management, n, namespace)["metadata"]["labels"].get(LABEL) for n in (*STAGING, *PRODUCTION))
    management.kubectl("patch", "fleetrollout", good, "--type=merge", "-p", '{"spec":{"paused":false}}')
    done = wait_phase(management, good, "Complete", timeout=300)
    assert done["progress"] == "4/4"
    final = {name: wait_ready(management, name, namespace, timeout=60) for name in (*STAGING, *PRODUCTION)}
    for obj in final.values():
        assert obj["status"]["release"]["rollout"] == good and timeout_of(management, obj) == base_timeout + 1
    staged = max(final[n]["status"]["release"]["deployedAt"] for n in STAGING)
    assert all(final[n]["status"]["release"]["deployedAt"] >= staged for n in PRODUCTION)  # production after staging

    # A newer rollout supersedes it; deleting the newer one brings the hubs back to the good one's target.
    management.apply(rollout(newer, {"cull": {"timeout": base_timeout + 2}}))
    wait_phase(management, good, "Superseded", timeout=60)
    wait_phase(management, newer, "Complete", timeout=300)
    management.kubectl("delete", "fleetrollout", newer, "--timeout=60s")
    for name in (*STAGING, *PRODUCTION):
        wait_for(lambda n=name: hub(management, n, namespace)["metadata"]["labels"].get(LABEL) == good, timeout=30,
                 what=f"{name} back on {good}")
        wait_condition(management, name, namespace, "Ready", "True", timeout=120)
    wait_for(lambda: all(timeout_of(management, hub(management, n, namespace)) == base_timeout + 1
                         for n in (*STAGING, *PRODUCTION)), timeout=120, what="the good target back on every hub")
    wait_phase(management, good, "Complete", timeout=60)

    management.kubectl("delete", "fleetrollout", good, "--timeout=60s")
    for name in (*STAGING, *PRODUCTION):
        management.kubectl("-n", namespace, "delete", "communityhub", name, "--wait=false")
