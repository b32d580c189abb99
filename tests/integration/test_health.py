"""Post-deploy health: Ready waits for the hub's own /hub/health, and a hub that stops answering is not Ready.

kwok's pods do not run, so the session operator does not probe (CHUB_HUB_HEALTH_PROBE=false). This module
restarts it probing a real JupyterHub process, the address of every hub's API for the module
(CHUB_HUB_API_URL), and stops and starts that JupyterHub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OperatorProcess
from tests.support.hubs import create_hub, ns, wait_condition, wait_ready
from tests.support.jupyterhub import JupyterHubProcess
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jupyterhub(operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterHubProcess]:
    hub_process = JupyterHubProcess(Path(tmp_path_factory.mktemp("health")) / "jupyterhub", {}, "unused-token")
    hub_process.start()
    saved = dict(operator.env)
    operator.stop()
    operator.env.update({"CHUB_HUB_HEALTH_PROBE": "true", "CHUB_HUB_API_URL": hub_process.api_url})
    operator.start()
    yield hub_process
    hub_process.stop()
    operator.stop()
    operator.env.clear()
    operator.env.update(saved)
    operator.start()


def test_ready_waits_for_the_hub_to_answer_and_follows_it(
        management: Cluster, operator: OperatorProcess, jupyterhub: JupyterHubProcess) -> None:
    namespace = ns("team-health")
    create_hub(management, "probed", namespace)
    obj = wait_ready(management, "probed", namespace, timeout=120)
    hub_ready = next(c for c in obj["status"]["conditions"] if c["type"] == "HubReady")
    assert hub_ready["message"].endswith("the hub answers"), hub_ready["message"]

    jupyterhub.stop()  # the hub stops answering: no longer Ready, and says why
    cond = wait_condition(management, "probed", namespace, "HubReady", "False", "HubNotAnswering", timeout=60)
    assert "/hub/health" in cond["message"] and "does not answer" in cond["message"]
    wait_condition(management, "probed", namespace, "Ready", "False", "HubNotAnswering", timeout=30)

    # A new release whose Deployments are Available but whose hub does not answer yet is not Ready either.
    create_hub(management, "early", namespace)
    early = wait_condition(management, "early", namespace, "HubReady", "Unknown", "WaitingForHub", timeout=120)
    assert "Deployments hub, proxy available" in early["message"]

    jupyterhub.start()
    wait_ready(management, "probed", namespace, timeout=150)  # a False hub is retried on its backoff
    wait_ready(management, "early", namespace, timeout=60)
    management.kubectl("-n", namespace, "delete", "communityhubs", "--all", "--timeout=120s")
