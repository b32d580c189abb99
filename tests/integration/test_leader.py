"""Two replicas never both act: a standby takes over from a killed leader within the Lease's duration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from communityhub.runtime.leader import RETRY_SECONDS
from tests.conftest import LEADER_LEASE_SECONDS, OperatorProcess
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
