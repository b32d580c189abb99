"""A daskhub's gateway as the real Dask Gateway chart takes it (delivery.dask): its values against the chart's
schema, what `helm template` makes of them (nothing cluster-wide), the hub's side, the Roles, the policy."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from communityhub.adapters.helm import values_yaml
from communityhub.api.models import HubClassSpec
from communityhub.delivery import dask, names, policy, render
from localcluster import binaries, charts
from tests.unit.test_real_chart import chart_file
from tests.unit.test_render import base_spec

DERIVED = names.derive("team", "pangeo")
DASKHUB = {"dask": {"worker": {"cores": 2, "memory": "8Gi"}, "maxCoresPerCluster": 40,
                    "maxMemoryPerCluster": "160Gi", "idleTimeoutMinutes": 45}}


def dask_chart_file(member: str) -> bytes:
    with tarfile.open(charts.dask_gateway_chart()) as archive:
        handle = archive.extractfile(f"dask-gateway/{member}")
        assert handle is not None
        return handle.read()


def test_the_gateway_values_fit_the_dask_gateway_charts_schema() -> None:
    schema = json.loads(dask_chart_file("values.schema.json"))
    defaults = yaml.safe_load(dask_chart_file("values.yaml"))
    values = render.deep_merge(defaults, dask.gateway_values(base_spec(**DASKHUB), DERIVED.namespace,
                                                             DERIVED.dask_release))
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)] == []


def test_the_chart_makes_nothing_cluster_wide_and_runs_as_the_operators_accounts(tmp_path: Path) -> None:
    helm = binaries.find("helm")
    if helm is None:
        pytest.skip("the helm binary is not built yet: `make binaries` builds it (`make test` does first)")
    (tmp_path / "values.yaml").write_text(values_yaml(dask.gateway_values(base_spec(**DASKHUB), DERIVED.namespace,
                                                                          DERIVED.dask_release)))
    out = subprocess.run([str(helm), "template", DERIVED.dask_release, str(charts.dask_gateway_chart()),
                          "--namespace", DERIVED.namespace, "--kube-version", "1.36.3", "--skip-crds",
                          "--values", str(tmp_path / "values.yaml")], capture_output=True, text=True, check=True).stdout
    objects = [doc for doc in yaml.safe_load_all(out) if doc]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "IngressRoute", "Middleware", "Service", "Service"]
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert sorted(deployments) == sorted(dask.deployments(DERIVED.dask_release))
    accounts = {o["spec"]["template"]["spec"]["serviceAccountName"] for o in deployments.values()}
    assert accounts == {dask.GATEWAY_ACCOUNT, dask.TRAEFIK_ACCOUNT}
    api = next(o for n, o in deployments.items() if n.startswith("api-"))
    # The hub's NetworkPolicy lets the API server in to check users' tokens (the chart labels its pods so).
    assert api["spec"]["template"]["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"
    traefik = next(o for n, o in deployments.items() if n.startswith("traefik-"))
    args = traefik["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--providers.kubernetescrd.namespaces={DERIVED.namespace}" in args  # its own routes only
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["dask_gateway_config.py"]
    assert "c.ClusterConfig.cluster_max_cores = 40.0" in config and "c.ClusterConfig.idle_timeout = 2700" in config


def test_the_hub_gets_the_service_and_its_users_the_gateways_address() -> None:
    spec = base_spec(**DASKHUB)
    added = dask.hub_values(spec, DERIVED.dask_release)
    traefik = dask.deployments(DERIVED.dask_release)[1]
    assert added["hub"]["services"][dask.SERVICE] == {"display": False, "url": f"http://{traefik}"}
    env = added["singleuser"]["extraEnv"]
    assert env["DASK_GATEWAY__ADDRESS"] == "http://proxy-public/services/dask-gateway"
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub" and env["DASK_GATEWAY__PROXY_ADDRESS"] == \
        f"gateway://{traefik}:80"
    assert dask.hub_values(base_spec(), DERIVED.dask_release) == {}
    assert dask.hub_values(base_spec(dask={"enabled": False}), DERIVED.dask_release) == {}
    # The JupyterHub chart's schema takes them (the service's token is the chart's to generate).
    hub_chart = charts.jupyterhub_chart()
    schema = json.loads(chart_file(hub_chart, "values.schema.json"))
    values = render.deep_merge(yaml.safe_load(chart_file(hub_chart, "values.yaml")),
                               render.deep_merge(render.values("team", "pangeo", spec), added))
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)] == []


def test_the_gateways_roles_are_namespaced_and_name_every_verb() -> None:
    objects = dask.roles(DERIVED.namespace)
    assert {o["kind"] for o in objects} == {"ServiceAccount", "Role", "RoleBinding"}
    assert all(o["metadata"]["namespace"] == DERIVED.namespace for o in objects)
    rules = [rule for o in objects if o["kind"] == "Role" for rule in o["rules"]]
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in rules)
    gateway = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == dask.GATEWAY_ACCOUNT)
    assert {"apiGroups": ["gateway.dask.org"], "resources": ["daskclusters"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]} in gateway["rules"]


def refusal(spec: Any, hub_class: HubClassSpec | None = None) -> Any:
    return dask.refusal(spec, dask.tier_default(spec.community.membership, hub_class),
                        policy.archetype_limits(spec, hub_class))


def test_essential_hubs_get_no_gateway_unless_their_class_says_so_and_sizes_stay_within_the_archetype() -> None:
    community = {**base_spec().community.model_dump(by_alias=True), "membership": "essential"}
    essential = base_spec(community=community, **DASKHUB)
    refused = refusal(essential)
    assert refused is not None and refused.reason == "DaskNotInTier"
    allowing = HubClassSpec.model_validate({"tiers": {"essential": {"dask": True}}})
    assert refusal(essential, allowing) is None
    education = {**base_spec().community.model_dump(by_alias=True), "archetype": "education"}
    big = base_spec(community=education, dask={"worker": {"cores": 8, "memory": "64Gi"}})
    refused = refusal(big)
    assert refused is not None and refused.reason == "DaskExceedsLimits" and "education" in refused.message
    assert refusal(base_spec(**DASKHUB)) is None
    assert refusal(base_spec()) is None  # no gateway asked: nothing to refuse


def test_the_workers_the_controller_makes_in_the_hubs_namespace_are_the_hubs_cost() -> None:
    """The controller creates a cluster's scheduler and workers in its DaskCluster's namespace, the hub's (the
    gateway's backend namespace): metering, which splits a node by its pods' namespaces, bills them to the hub."""
    from communityhub.money import cost

    assert dask.gateway_values(base_spec(**DASKHUB), DERIVED.namespace, DERIVED.dask_release)["gateway"]["backend"][
        "namespace"] == DERIVED.namespace
    node = cost.node_from({"metadata": {"name": "n", "labels": {cost.REGION_LABEL: "us-central1",
                                                               cost.INSTANCE_TYPE_LABEL: "n2-highmem-4"}},
                           "spec": {"providerID": "gce://p/us-central1-b/n"},
                           "status": {"allocatable": {"cpu": "4", "memory": "32Gi"}}}, "gcp")
    owners = {DERIVED.namespace: "team/pangeo", "hub-other": "team/other"}

    def pod(namespace: str, component: str) -> Any:
        return cost.pod_from({"metadata": {"namespace": namespace,
                                           "labels": {"app.kubernetes.io/component": component}},
                              "spec": {"nodeName": "n", "containers": [
                                  {"resources": {"requests": {"cpu": "1", "memory": "8Gi"}}}]},
                              "status": {"phase": "Running"}}, owners)

    pods = [pod(DERIVED.namespace, "dask-worker"), pod(DERIVED.namespace, "dask-worker"),
            pod("hub-other", "singleuser-server")]
    rates, unpriced = cost.rates([node], pods, cost.catalog())
    assert not unpriced and rates["team/pangeo"] == pytest.approx(2 * rates["team/other"])
