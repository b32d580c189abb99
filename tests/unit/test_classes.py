"""HubClass: which class a hub gets, how its values layer with the operator's and the tenant's, what it opens
to tenants and what its tier and archetype rules decide; and manifests from before classes render as they did."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from communityhub.api.models import DEFAULT_CLASS_ANNOTATION, CommunityHubSpec, HubClassSpec
from communityhub.delivery import classes, policy, render
from tests.conftest import REPO
from tests.unit.test_render import base_spec


def entry(spec: dict[str, Any] | None = None, *, default: bool = False, created: str = "2026-11-01T00:00:00Z",
          generation: int = 1) -> dict[str, Any]:
    return classes.index_entry({"metadata": {"generation": generation, "creationTimestamp": created,
                                             "annotations": {DEFAULT_CLASS_ANNOTATION: "true"} if default else {}},
                                "spec": spec or {}})


def test_a_hub_gets_the_class_it_names_else_the_default_else_none() -> None:
    named = base_spec(hubClassName="lab")
    unnamed = base_spec()
    found = classes.resolve(named, {"lab": entry({"description": "the lab"}, generation=3), "base": entry()})
    assert (found.name, found.generation, found.spec.description) == ("lab", 3, "the lab")
    assert found.to_status() == {"name": "lab", "generation": 3}
    assert classes.resolve(unnamed, {"lab": entry(), "base": entry(default=True)}).name == "base"
    assert classes.resolve(unnamed, {"lab": entry()}) is classes.NO_CLASS
    assert classes.NO_CLASS.to_status() is None  # the field leaves the status


def test_a_named_class_that_does_not_exist_is_missing_and_says_how_to_see_those_that_do() -> None:
    found = classes.resolve(base_spec(hubClassName="gone"), {"base": entry(default=True)})
    assert found.missing and found.name == "gone" and found.to_status() is None
    message = classes.not_found_message("gone", base_spec(hubClassName="gone"))
    assert "HubClass gone (spec.hubClassName) does not exist" in message and "kubectl get hubclasses" in message


def test_of_several_defaults_the_newest_wins_then_the_first_name() -> None:
    older, newer = "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"
    assert classes.default_class({"a": entry(default=True, created=older),
                                  "b": entry(default=True, created=newer)}) == "b"
    assert classes.default_class({"b": entry(default=True, created=newer),
                                  "a": entry(default=True, created=newer)}) == "a"
    assert classes.default_class({"a": entry(), "b": entry()}) is None


def test_a_class_is_parsed_once_per_generation() -> None:
    spec = {"images": [{"name": "py", "reference": "quay.io/x/py:1"}]}
    first = classes.resolve(base_spec(hubClassName="c"), {"c": entry(spec)}).spec
    again = classes.resolve(base_spec(hubClassName="c"), {"c": entry(spec)}).spec
    assert first is again  # cached on the spec's text


CLASS_VALUES = {
    "scheduling": {"userScheduler": {"enabled": True}},  # a provider default: the class wins
    "cull": {"timeout": 7200},
    "singleuser": {"image": {"name": "provider/image"},  # rendered from the hub: the hub wins
                   "extraFiles": {"motd": {"mountPath": "/etc/motd", "stringData": "hi"}}},
    "hub": {"config": {"JupyterHub": {"template_vars": {"org": {"name": "Provider"}}}}},
}


def test_layers_operator_defaults_then_class_then_rendered_then_rollout_then_tenant() -> None:
    org = {"template_vars": {"org": {"name": "Tenant"}}}
    tenant = {"cull": {"maxAge": 100}, "hub": {"config": {"JupyterHub": org}}}
    spec = base_spec(hub={**base_spec().hub.model_dump(by_alias=True), "values": tenant})
    values = render.values("hubs", "lab", spec, class_values=CLASS_VALUES,
                           fleet_values={"cull": {"timeout": 9000}})
    assert values["scheduling"]["userScheduler"] == {"enabled": True}  # class over the operator's default
    assert values["scheduling"]["userPods"]["nodeAffinity"]["matchNodePurpose"] == "require"  # default kept
    assert values["singleuser"]["image"]["name"] == "quay.io/example/climate-notebook"  # rendered over class
    assert values["singleuser"]["extraFiles"]["motd"]["mountPath"] == "/etc/motd"  # class where nothing renders
    assert values["cull"]["timeout"] == 9000  # the rollout over the class
    assert values["cull"]["maxAge"] == 100  # the tenant's open path, last
    assert values["hub"]["config"]["JupyterHub"]["template_vars"]["org"]["name"] == "Tenant"


def test_without_class_values_the_rendering_is_the_operators_own() -> None:
    spec = base_spec()
    assert render.values("hubs", "lab", spec, class_values={}) == render.values("hubs", "lab", spec)
    defaults, rest = render.split_provider_defaults(render.values("hubs", "lab", spec))
    assert set(defaults) == {"scheduling", "cull", "prePuller", "proxy", "hub"}
    assert "db" in defaults["hub"] and "db" not in rest["hub"] and "chp" not in rest["proxy"]
    assert "service" not in rest["proxy"]
    assert render.deep_merge(defaults, rest) == render.values("hubs", "lab", spec)


def test_a_class_chooses_how_the_proxy_is_reached() -> None:
    """The proxy Service's type is the provider's (a NodePort on the local plane's process nodes, a LoadBalancer
    where no ingress controller runs); the operator's ClusterIP is only a default."""
    spec = base_spec()
    assert render.values("hubs", "lab", spec)["proxy"]["service"]["type"] == "ClusterIP"
    chosen = render.values("hubs", "lab", spec, class_values={"proxy": {"service": {"type": "NodePort"}}})
    assert chosen["proxy"]["service"]["type"] == "NodePort"


def test_a_class_opens_value_paths_to_its_tenants_only() -> None:
    tenant_values = {"singleuser": {"extraFiles": {"x": {"mountPath": "/x"}}}}
    refused = policy.hub_values(tenant_values)
    assert refused is not None and refused.reason == "ValuesNotAllowed"
    assert "singleuser.extraFiles.x.mountPath" in refused.message
    assert policy.hub_values(tenant_values, ["singleuser.extraFiles"]) is None


GPU_CLASS = HubClassSpec.model_validate({
    "nodePools": [{"name": "t4", "machineType": "n1-standard-8", "cpu": 8, "memory": "30Gi",
                   "gpu": {"type": "nvidia-tesla-t4", "count": 1}}],
    "tiers": {"essential": {"gpu": True, "ownImages": True, "maxProfiles": 1}},
    "archetypes": {"education": {"cpu": 2, "memory": "8Gi"}},
})


def profiles(*items: dict[str, Any]) -> dict[str, Any]:
    spec = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    return {**spec, "profiles": list(items)}


def test_tier_and_archetype_rules_come_from_the_class_when_it_sets_them() -> None:
    essential = {**base_spec().community.model_dump(by_alias=True), "membership": "essential",
                 "archetype": "education"}
    gpu = base_spec(community=essential, environment=profiles({"name": "g", "cpu": 2, "memory": "8Gi", "gpu": 1,
                                                                "nodePool": "t4"}))
    # The operator's essential tier has no GPUs; this class's has.
    assert policy.environment(gpu).reason == "ProfileNotInTier"
    assert policy.environment(gpu, GPU_CLASS).status == "Unknown"
    # The class's education limit (2 CPU) is lower than the operator's (4).
    big = base_spec(community=essential, environment=profiles({"name": "b", "cpu": 3, "memory": "8Gi"}))
    assert policy.environment(big).status == "Unknown"
    refused = policy.environment(big, GPU_CLASS)
    assert refused.reason == "ProfileExceedsLimits" and "at most 2 CPU and 8Gi" in refused.message
    two = base_spec(community=essential, environment=profiles({"name": "a", "cpu": 1, "memory": "1Gi"},
                                                              {"name": "b", "cpu": 1, "memory": "1Gi"}))
    assert policy.environment(two).status == "Unknown"
    assert policy.environment(two, GPU_CLASS).reason == "TooManyProfiles"
    # A tier the class leaves out keeps the operator's rules.
    general = base_spec(environment=profiles({"name": "g", "cpu": 2, "memory": "8Gi", "gpu": 1}))
    assert policy.tier_rules(general, GPU_CLASS) == policy.DEFAULT_TIERS["general"]


def test_class_catalog_names_are_unique_by_cel() -> None:
    from communityhub.api import crd
    rules = crd.hub_class_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "x-kubernetes-validations"]
    assert {r["fieldPath"] for r in rules} == {".nodePools", ".images"}


#: values_hash of every example as the operator rendered it before HubClass existed (commit ee48162, with the
#: endpoints below): a manifest valid then must deliver the same values now, or every hub would be redeployed.
#: climate-lab's changed once since, on purpose (issue 31): its profiles' memory was `2Gi`, which JupyterHub
#: refuses when a server starts (render.spawner_memory), so its values had to change. All three changed again on
#: purpose (issue 32): the operator's usage role reads users' groups (read:users:groups) for the cost split by
#: group, so each hub's release is upgraded once (its hub pod restarts; users' servers keep running). And once more
#: (issue 30): every hub registers the operator's serving checker (delivery/serving.py) and its token's variable.
BEFORE_CLASSES = {
    "climate-lab.yaml": "sha256:d6fb68a5994bc991624eb75217902cee",
    "dedicated-gcp.yaml": "sha256:3f5b03861d6b177890193800c75d9965",
    "dedicated-local.yaml": "sha256:6bad72e33f6e994d3c5c0b9f6d734d01",
}


@pytest.mark.parametrize("example", sorted(BEFORE_CLASSES))
def test_manifests_from_before_classes_render_the_same_values(example: str) -> None:
    doc = next(d for d in yaml.safe_load_all((REPO / "examples" / example).read_text())
               if d and d.get("kind") == "CommunityHub")
    spec = CommunityHubSpec.model_validate(doc["spec"])
    namespace = doc["metadata"].get("namespace", "default")
    endpoints = {"authorize_url": "a", "token_url": "t", "userdata_url": "u"}
    for hub_class in (None, {}):  # no class at all, or a default class with no values of its own
        values = render.values(namespace, doc["metadata"]["name"], spec, oidc_endpoints=endpoints,
                               class_values=hub_class)
        assert render.values_hash("c", "1", values) == BEFORE_CLASSES[example]
