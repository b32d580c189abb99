"""HubClass on the local control plane, with the real chart: a class's values reach its hubs' releases, a
class change reaches every hub of the class with one helm run each (as `hubctl plan` said before it merged, and
a change it said runs no helm runs none), a class opens a values path to its
tenants, a hub whose class is missing says so and is delivered once the class exists, a class whose
catalog repeats a name is refused at apply, and a class on a Gateway reaches its hub through an HTTPRoute (a
hub moved onto one keeps a route every second of the switch).

Only named classes here: a default class would reach every hub of the test session."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OperatorProcess
from tests.support import gateway_api
from tests.support.hubs import (
    RUN,
    create_hub,
    hub,
    hub_ns,
    hubctl,
    ns,
    released_values,
    wait_condition,
    wait_ready,
)
from tests.support.kube import Cluster, wait_for

pytestmark = pytest.mark.integration

CLASS = f"lab-{RUN}"
MOTD = {"mountPath": "/etc/motd", "stringData": "welcome"}


def hub_class(name: str, mark: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": name},
            "spec": {"description": "test class", "openValuePaths": ["singleuser.extraFiles"],
                     "values": {"hub": {"config": {"JupyterHub": {"template_vars": {"provider_mark": mark}}}}},
                     **spec}}


def mark_of(management: Cluster, base: str, name: str) -> Any:
    values = released_values(management, hub_ns(base, name))
    return values["hub"]["config"]["JupyterHub"].get("template_vars", {}).get("provider_mark")


@pytest.fixture(scope="module")
def classed(management: Cluster, operator: OperatorProcess) -> list[tuple[str, str]]:
    management.apply(hub_class(CLASS, "v1"))
    hubs = [("cls-a", "team-cls"), ("cls-b", "team-cls")]
    for name, base in hubs:
        # A path the operator keeps closed (singleuser.extraFiles), opened by this class.
        create_hub(management, name, ns(base), hubClassName=CLASS,
                   hub={"domain": f"{name}.hubs.example.org", "adminUsers": ["alice"],
                        "values": {"singleuser": {"extraFiles": {"motd": MOTD}}}})
    for name, base in hubs:
        wait_ready(management, name, ns(base), timeout=180)
    yield hubs
    for name, base in hubs:  # the hubs first: a hub whose class is gone would stay HubClassNotFound
        management.kubectl("delete", "communityhub", name, "-n", ns(base), "--timeout=120s", check=False)
    management.kubectl("delete", "hubclass", CLASS, "--ignore-not-found", "--wait=false", check=False)


def test_class_values_and_the_paths_it_opens_reach_the_release(management: Cluster,
                                                              classed: list[tuple[str, str]]) -> None:
    for name, base in classed:
        obj = hub(management, name, ns(base))
        assert obj is not None and obj["status"]["hubClass"] == {"name": CLASS, "generation": 1}
        assert mark_of(management, base, name) == "v1"
        assert released_values(management, hub_ns(base, name))["singleuser"]["extraFiles"]["motd"] == MOTD


def planned(management: Cluster, tmp_path: Path, *docs: dict[str, Any]) -> dict[str, Any]:
    """hubctl plan of these manifests against the live plane, as a CI job runs it before merge."""
    (tmp_path / "change.yaml").write_text(yaml.safe_dump_all(docs))
    done = hubctl(management, "plan", str(tmp_path), "-o", "json")
    assert done.returncode == 0, done.stderr
    return {f"{h['namespace']}/{h['name']}": h for h in json.loads(done.stdout)["hubs"]}


def test_a_class_change_reaches_each_hub_with_one_helm_run(management: Cluster, classed: list[tuple[str, str]],
                                                          tmp_path: Path) -> None:
    """hubctl plan said so before the change merged: each hub of the class runs helm, with the class's value
    in its diff; the releases then moved once each."""
    before = {name: hub(management, name, ns(base))["status"]["release"]["revision"] for name, base in classed}
    plan = planned(management, tmp_path, hub_class(CLASS, "v2"))
    assert set(plan) == {f"{ns(base)}/{name}" for name, base in classed}, "only the class's hubs are touched"
    for entry in plan.values():
        assert entry["helm"] is True and entry["conditions"] == []
        assert {"path": "hub.config.JupyterHub.template_vars.provider_mark", "before": "v1", "after": "v2"} in \
            entry["valuesDiff"]
    management.apply(hub_class(CLASS, "v2"))

    def on_v2(name: str, base: str) -> dict[str, Any] | None:
        obj = hub(management, name, ns(base)) or {}
        status = obj.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return obj if ready and status.get("hubClass") == {"name": CLASS, "generation": 2} else None

    for name, base in classed:
        obj = wait_for(lambda n=name, b=base: on_v2(n, b), timeout=180, what=f"{name} Ready on the class's change")
        assert mark_of(management, base, name) == "v2"
        assert obj["status"]["release"]["revision"] == before[name] + 1  # one helm run, not one per pass
    # Settled: three more resyncs run no helm.
    time.sleep(6)
    assert {name: hub(management, name, ns(base))["status"]["release"]["revision"]
            for name, base in classed} == {name: before[name] + 1 for name, _ in classed}


def test_a_change_the_plan_says_runs_no_helm_runs_none(management: Cluster, classed: list[tuple[str, str]],
                                                       tmp_path: Path) -> None:
    """A label (a wave's, say) touches the hub and renders the same values: the plan says no helm run, and the
    release's revision and values hash stay as they were through the passes that follow."""
    name, base = classed[0]
    obj = hub(management, name, ns(base))
    assert obj is not None
    release = obj["status"]["release"]
    relabelled = {k: obj[k] for k in ("apiVersion", "kind", "spec")}
    relabelled["metadata"] = {"name": name, "namespace": ns(base),
                              "labels": {**(obj["metadata"].get("labels") or {}), "wave": "canary"}}
    plan = planned(management, tmp_path, relabelled)
    assert list(plan) == [f"{ns(base)}/{name}"]
    assert plan[f"{ns(base)}/{name}"]["helm"] is False and plan[f"{ns(base)}/{name}"]["valuesDiff"] == []
    management.kubectl("label", "communityhub", name, "-n", ns(base), "wave=canary", "--overwrite")
    time.sleep(6)  # three resyncs
    after = hub(management, name, ns(base))["status"]["release"]  # type: ignore[index]
    assert (after["revision"], after["valuesHash"]) == (release["revision"], release["valuesHash"])


def test_a_hub_whose_class_is_missing_says_so_and_is_delivered_once_it_exists(
        management: Cluster, operator: OperatorProcess) -> None:
    missing = f"later-{RUN}"
    create_hub(management, "cls-late", ns("team-cls-late"), hubClassName=missing)
    cond = wait_condition(management, "cls-late", ns("team-cls-late"), "EnvironmentReady", "False",
                          reason="HubClassNotFound")
    assert f"HubClass {missing} (spec.hubClassName) does not exist" in cond["message"]
    ready = wait_condition(management, "cls-late", ns("team-cls-late"), "Ready", "False")
    assert ready["reason"] == "HubClassNotFound"
    assert "hubClass" not in hub(management, "cls-late", ns("team-cls-late"))["status"]
    management.apply(hub_class(missing, "late"))
    try:
        obj = wait_ready(management, "cls-late", ns("team-cls-late"), timeout=180)
        assert obj["status"]["hubClass"] == {"name": missing, "generation": 1}
        assert mark_of(management, "team-cls-late", "cls-late") == "late"
    finally:
        management.kubectl("delete", "communityhub", "cls-late", "-n", ns("team-cls-late"), "--timeout=120s",
                           check=False)
        management.kubectl("delete", "hubclass", missing, "--wait=false", check=False)


def test_a_class_whose_catalog_repeats_a_name_is_refused_at_apply(management: Cluster,
                                                                 operator: OperatorProcess) -> None:
    pool = {"name": "small", "machineType": "n2-highmem-4", "cpu": 4, "memory": "32Gi"}
    bad = hub_class(f"dup-{RUN}", "x", nodePools=[pool, pool])
    with pytest.raises(AssertionError) as refused:
        management.apply(bad)
    assert "spec.nodePools: Invalid value" in str(refused.value)
    assert "node pool names must be unique" in str(refused.value)


def test_a_class_rollout_brings_a_class_change_wave_by_wave(management: Cluster,
                                                            classed: list[tuple[str, str]]) -> None:
    """With a FleetRollout that targets the class, a class change waits for the rollout: paused, no hub takes
    it; resumed, the staging hub takes it before the production hub, each with one helm run."""
    label = f"channel-{RUN}"
    for (name, base), channel in zip(classed, ("staging", "production"), strict=True):
        management.kubectl("label", "communityhub", name, "-n", ns(base), f"{label}={channel}", "--overwrite")
    rollout = f"cls-{RUN}"
    management.apply({"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "FleetRollout", "metadata": {"name": rollout},
                      "spec": {"target": {"hubClass": CLASS}, "paused": True, "waves": [
                          {"name": "staging", "matchLabels": {label: "staging"}},
                          {"name": "production", "matchLabels": {label: "production"}}]}})
    try:
        wait_for(lambda: (management.get("fleetrollout", rollout) or {}).get("status", {}).get("phase") == "Paused",
                 timeout=60, what=f"FleetRollout {rollout} Paused")
        before = {name: hub(management, name, ns(base))["status"] for name, base in classed}
        management.apply(hub_class(CLASS, "v3"))
        time.sleep(6)  # three resyncs: held, both
        for name, base in classed:
            now = hub(management, name, ns(base))["status"]
            assert mark_of(management, base, name) == "v2"
            assert now["release"]["revision"] == before[name]["release"]["revision"]
            assert now["hubClass"] == before[name]["hubClass"]  # the generation the release carries
        management.kubectl("patch", "fleetrollout", rollout, "--type=merge", "-p", '{"spec":{"paused":false}}')
        wait_for(lambda: (management.get("fleetrollout", rollout) or {}).get("status", {}).get("phase")
                 == "Complete", timeout=300, what=f"FleetRollout {rollout} Complete")
        after = {name: hub(management, name, ns(base))["status"] for name, base in classed}
        for name, base in classed:
            assert mark_of(management, base, name) == "v3"
            assert after[name]["release"]["revision"] == before[name]["release"]["revision"] + 1
            assert after[name]["hubClass"]["generation"] == before[name]["hubClass"]["generation"] + 1
        (staging, _), (production, _) = classed
        assert after[staging]["release"]["deployedAt"] <= after[production]["release"]["deployedAt"]
    finally:
        management.kubectl("delete", "fleetrollout", rollout, "--ignore-not-found", "--wait=false", check=False)


def test_a_class_on_a_gateway_reaches_its_hub_through_an_httproute(management: Cluster,
                                                                    operator: OperatorProcess) -> None:
    """ingress-nginx is past its maintenance: on a cluster with Gateway API (its CRD, from the pinned module), a
    class that names a Gateway gets its hub delivered with an HTTPRoute for its domain, and no Ingress, under the
    operator's rights in the hub's namespace."""
    gateway_api.install(management)
    name, base, klass = "routed", "team-route", f"gw-{RUN}"
    management.apply(hub_class(klass, "gw", gatewayRoute={"name": "hubs", "namespace": "gateways"}))
    try:
        create_hub(management, name, ns(base), hubClassName=klass,
                   hub={"domain": f"{name}.hubs.example.org", "adminUsers": ["alice"]})
        wait_ready(management, name, ns(base), timeout=180)
        hub_namespace = hub_ns(base, name)
        (route,) = management.get("httproutes.gateway.networking.k8s.io", namespace=hub_namespace)["items"]
        assert route["spec"]["hostnames"] == [f"{name}.hubs.example.org"]
        assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "name": "hubs", "namespace": "gateways"}]
        assert management.get("ingresses.networking.k8s.io", namespace=hub_namespace)["items"] == []
    finally:
        management.kubectl("delete", "communityhub", name, "-n", ns(base), "--timeout=120s", check=False)
        management.kubectl("delete", "hubclass", klass, "--ignore-not-found", "--wait=false", check=False)


def accepted(route: dict[str, Any]) -> bool:
    return any(c.get("type") == "Accepted" and c.get("status") == "True"
               for parent in (route.get("status") or {}).get("parents") or [] for c in parent.get("conditions") or [])


def test_a_hub_switched_from_ingress_to_a_gateway_keeps_a_route_every_second(management: Cluster,
                                                                          operator: OperatorProcess) -> None:
    """A class moved onto a Gateway: its hub gets the HTTPRoute beside its Ingress, and loses the Ingress only once
    a Gateway accepted the route (the test is the Gateway's controller, as none runs here); each second of the
    switch, the hub has one or the other."""
    gateway_api.install(management)
    name, base, klass = "switched", "team-switch", f"sw-{RUN}"
    management.apply(hub_class(klass, "sw"))
    try:
        create_hub(management, name, ns(base), hubClassName=klass,
                   hub={"domain": f"{name}.hubs.example.org", "adminUsers": ["alice"]})
        wait_ready(management, name, ns(base), timeout=180)
        hub_namespace = hub_ns(base, name)
        assert management.get("ingresses.networking.k8s.io", namespace=hub_namespace)["items"]
        management.apply(hub_class(klass, "sw", gatewayRoute={"name": "hubs", "namespace": "gateways"}))
        deadline, acknowledged, seconds = time.monotonic() + 240, False, 0
        while True:
            ingresses = management.get("ingresses.networking.k8s.io", namespace=hub_namespace)["items"]
            routes = management.get("httproutes.gateway.networking.k8s.io", namespace=hub_namespace)["items"]
            assert ingresses or any(accepted(r) for r in routes), f"second {seconds}: neither an Ingress nor a route"
            if not ingresses:
                break
            if routes and not acknowledged:
                # As the Gateway's controller would, once it takes the route.
                status = {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                     "name": "hubs", "namespace": "gateways"},
                                       "controllerName": "example.org/gateway-stand-in",
                                       "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                                       "message": "taken by the test's stand-in controller",
                                                       "observedGeneration": routes[0]["metadata"]["generation"],
                                                       "lastTransitionTime": "2026-12-07T00:00:00Z"}]}]}
                management.kubectl("patch", "httproutes.gateway.networking.k8s.io", routes[0]["metadata"]["name"],
                                   "-n", hub_namespace, "--subresource=status", "--type=merge",
                                   "-p", json.dumps({"status": status}))
                acknowledged = True
            assert time.monotonic() < deadline, "the Ingress never went"
            time.sleep(1)
            seconds += 1
        assert acknowledged, "the Ingress went before the route was accepted"
        wait_ready(management, name, ns(base), timeout=120)
        assert hub(management, name, ns(base))["status"]["release"]["ingress"] is False  # type: ignore[index]
    finally:
        management.kubectl("delete", "communityhub", name, "-n", ns(base), "--timeout=120s", check=False)
        management.kubectl("delete", "hubclass", klass, "--ignore-not-found", "--wait=false", check=False)

