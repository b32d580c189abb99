"""A hub's share of a shared cluster, on the real control plane (issue 29, finding 6): the hub namespace gets the
ResourceQuota and LimitRange of its archetype (here a class's smaller quota), a user pod beyond the quota is refused
by Kubernetes with its own message (created as the hub's ServiceAccount, as KubeSpawner does), and the hub says
the quota is full. On the commit before, the operator made no quota: the first test's lookup finds none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from communityhub.delivery import names
from tests.conftest import OperatorProcess
from tests.support.hubs import RUN, create_hub, hub, hub_ns, ns, wait_condition, wait_ready
from tests.support.kube import Cluster, wait_for

pytestmark = pytest.mark.integration

CLASS = f"tight-{RUN}"
#: A quota that holds the hub's own pods (hub 0.2 CPU, proxy 50m, the LimitRange's 10m for the rest) and about one
#: more server of 1 CPU.
QUOTA = {"cpu": 1.5, "memory": "8Gi", "pods": 10}


def user_pod(name: str, cpu: str) -> dict[str, Any]:
    """A user server's pod as KubeSpawner makes it: the user pool's node purpose, requests and a memory limit."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"component": "singleuser-server"}},
            "spec": {"containers": [{"name": "notebook", "image": "quay.io/jupyter/base-notebook:latest",
                                     "resources": {"requests": {"cpu": cpu, "memory": "1Gi"},
                                                   "limits": {"memory": "1Gi"}}}],
                     "nodeSelector": {"hub.jupyter.org/node-purpose": "user"},
                     "tolerations": [{"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user",
                                      "effect": "NoSchedule"},
                                     {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user",
                                      "effect": "NoSchedule"}]}}


@pytest.fixture(scope="module")
def tight(management: Cluster, operator: OperatorProcess) -> Iterator[str]:
    management.apply({"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": CLASS},
                      "spec": {"archetypes": {"research": {"quota": QUOTA}}}})
    namespace = ns("team-quota")
    create_hub(management, "quota", namespace, hubClassName=CLASS)
    wait_ready(management, "quota", namespace, timeout=180)
    yield hub_ns("team-quota", "quota")
    management.kubectl("delete", "communityhub", "quota", "-n", namespace, "--timeout=120s", check=False)
    management.kubectl("delete", "hubclass", CLASS, "--ignore-not-found", "--wait=false", check=False)


def test_the_hub_namespace_gets_its_archetypes_quota_and_default_requests(management: Cluster, tight: str) -> None:
    quota = management.get("resourcequota", names.QUOTA, tight)
    assert quota is not None, "no ResourceQuota in the hub's namespace"
    assert quota["spec"]["hard"] == {"requests.cpu": "1500m", "requests.memory": "8Gi", "pods": "10",
                                     "requests.nvidia.com/gpu": "16", "requests.storage": "20Ti",
                                     "persistentvolumeclaims": "2k"}  # the API server writes 2000 so
    limits = management.get("limitrange", names.LIMIT_RANGE, tight)
    assert limits is not None and limits["spec"]["limits"][0]["defaultRequest"] == {"cpu": "10m", "memory": "64Mi"}


def test_a_user_server_beyond_the_quota_is_refused_and_the_hub_says_so(management: Cluster, tight: str) -> None:
    account = f"system:serviceaccount:{tight}:hub"  # KubeSpawner's identity
    refused = management.kubectl("-n", tight, "create", "-f", "-", as_user=account, check=False,
                                 input=json.dumps(user_pod(f"jupyter-big-{RUN}", "2")))
    assert refused.returncode != 0
    assert "exceeded quota" in refused.stderr and names.QUOTA in refused.stderr, refused.stderr
    # One that fits is admitted, and with it the quota is full: the hub reports it.
    wait_for(lambda: (management.get("resourcequota", names.QUOTA, tight) or {}).get("status", {}).get("used"),
             timeout=30, what="the quota counted")
    used = management.get("resourcequota", names.QUOTA, tight)["status"]["used"]["requests.cpu"]
    left = 1500 - int(used.removesuffix("m")) if used.endswith("m") else 1500 - int(float(used) * 1000)
    admitted = management.kubectl("-n", tight, "create", "-f", "-", as_user=account, check=False,
                                  input=json.dumps(user_pod(f"jupyter-fits-{RUN}", f"{left}m")))
    assert admitted.returncode == 0, admitted.stderr
    cond = wait_condition(management, "quota", ns("team-quota"), "WithinQuota", "False", "QuotaExhausted", timeout=60)
    assert "requests.cpu 1500m of 1500m" in cond["message"] or "requests.cpu 1500m of 1.5" in cond["message"], cond
    ready = [c for c in hub(management, "quota", ns("team-quota"))["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"  # full is news, not a failed delivery
    management.kubectl("-n", tight, "delete", "pod", f"jupyter-fits-{RUN}", "--wait=false")
    wait_condition(management, "quota", ns("team-quota"), "WithinQuota", "True", timeout=60)
