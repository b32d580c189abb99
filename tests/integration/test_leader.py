"""Two replicas never both act: a standby takes over from a killed leader within the Lease's duration."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from lightkube import Client, KubeConfig

from communityhub.runtime.leader import RETRY_SECONDS, LeaderElection
from communityhub.runtime.sharding import Sharding
from tests.conftest import LEADER_LEASE_SECONDS, OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import create_hub, ns, wait_ready
from tests.support.kube import Cluster, wait_for

pytestmark = pytest.mark.integration


def test_a_standby_acts_only_after_the_leader_is_killed(
        management: Cluster, operator: OperatorProcess, tmp_path: Path) -> None:
    standby = OperatorProcess(operator.kubeconfig, tmp_path / "standby.log",
                              {**operator.env, "CHUB_METRICS_PORT": "0"})  # the leader's port is taken
    standby.start(wait=False)
    try:
        wait_for(lambda: "standing by" in standby.log(), timeout=30, what="the second replica to stand by")
        create_hub(management, "lead", ns("team-lead"))
        wait_ready(management, "lead", ns("team-lead"))
        assert "team-lead" not in standby.log(), "the standby acted while another replica led"
        assert "Activity 'startup' succeeded" not in standby.log()

        killed = time.monotonic()
        operator.kill_everything()
        wait_for(lambda: "leadership acquired" in standby.log(), timeout=LEADER_LEASE_SECONDS + 20,
                 what="the standby to take over")
        took = time.monotonic() - killed
        # Stated bound: the Lease's duration, one standby retry, and a second of slack.
        assert took < LEADER_LEASE_SECONDS + RETRY_SECONDS + 1, f"took over after {took:.1f}s"
        create_hub(management, "after", ns("team-lead"))
        wait_ready(management, "after", ns("team-lead"))
    finally:
        standby.stop()  # a clean stop hands the Lease back: the session's operator takes it at once
        operator.start()
    assert "leadership acquired" in operator.log()


def test_a_shard_stands_by_while_the_unsharded_operator_it_replaces_leads(management: Cluster) -> None:
    """Going from one shard to several: each shard waits for the unsharded operator's Lease, not only its own."""
    management.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    client = Client(KubeConfig.from_file(str(management.kubeconfig)), field_manager="test-leader")
    base, said = f"replaced-{uuid.uuid4().hex[:6]}", []
    unsharded = LeaderElection(client, OPERATOR_NAMESPACE, base, me="unsharded")
    shard = LeaderElection(client, OPERATOR_NAMESPACE, Sharding(0, 2).lease(base), me="shard-0",
                           after=Sharding(0, 2).replaces(base), log=lambda event, **kw: said.append(event))
    assert unsharded.try_acquire()
    assert not shard.try_acquire()
    assert not shard.try_acquire()
    assert management.get("lease", f"{base}-shard-0", OPERATOR_NAMESPACE) is None, "a shard took its Lease"
    assert said == ["standing by: the operator this one replaces still leads"]  # said once, not every attempt
    unsharded.release()  # a clean stop hands its Lease back
    assert shard.try_acquire()
    assert management.get("lease", f"{base}-shard-0", OPERATOR_NAMESPACE)["spec"]["holderIdentity"] == "shard-0"
