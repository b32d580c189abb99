"""Image building inside a hub (issue 33), decided in delivery/binder.py: the binderhub-service values the operator
renders fit the real chart's schema and confine its privileged docker API to the class's build pool; the real
JupyterHub chart's hub config registers the builder and lets users reach it; images go under the hub's own
prefix; what the class does not offer is refused."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import yaml

from communityhub.adapters import hubconfig
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.delivery import binder, names, policy, render
from localcluster import binaries, charts
from tests.conftest import REPO

POOL = {"hubs.2i2c.org/node-pool": "build", "2i2c/hub-name": "{hub.name}"}
BINDER_CLASS = {"registry": {"server": "https://quay.example.org", "imagePrefix": "quay.example.org/builds/"
                                                                                  "{hub.clusterNamespace}-",
                             "credentialsSecret": "registry-login"},
                "buildPool": {"nodeSelector": POOL},
                "values": {"config": {"KubernetesBuildExecutor": {"build_image": "quay.io/jupyterhub/repo2docker:x"}}}}
LOGIN = {"username": "robot+builder", "password": "s3cret-push-password"}


def spec(**extra: Any) -> CommunityHubSpec:
    doc = copy.deepcopy(list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]["spec"])
    doc["environment"]["profiles"] = [{"name": "build", "memory": "2Gi", "imageBuilding": True}]
    doc["binder"] = {"allowedRepositories": ["^pangeo-data/.*$"]}
    doc.update(extra)
    return CommunityHubSpec.model_validate(doc)


def hub_class(**extra: Any) -> HubClassSpec:
    return HubClassSpec.model_validate({"binder": BINDER_CLASS, **extra})


def template(values: dict[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    helm = binaries.find("helm")
    if helm is None:
        pytest.skip("the helm binary is not built yet: `make binaries` builds it (`make test` does first)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHUB_HELM", str(helm))
        return hubconfig.chart_objects(values, charts.binder_chart(), release=release, namespace=namespace)


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert found, f"no {kind} {name} in {[(o['kind'], o['metadata']['name']) for o in objects]}"
    return found[0]


def test_the_builders_values_fit_the_real_chart_and_keep_its_docker_api_on_the_build_pool() -> None:
    hub_names = names.derive("team", "lab")
    release, namespace = hub_names.binder_release, hub_names.namespace
    prefix = binder.image_prefix(hub_class().binder, "team", "lab", namespace)  # type: ignore[arg-type]
    pool = binder.pool_selector(hub_class().binder, "team", "lab")  # type: ignore[arg-type]
    assert pool == {"hubs.2i2c.org/node-pool": "build", "2i2c/hub-name": "lab"}  # the hub's own nodes of the pool
    values = binder.service_values(spec(), hub_class().binder,  # type: ignore[arg-type]
                                   release=release, hub_url="https://lab.example.org/", prefix=prefix, login=LOGIN,
                                   pool=pool)
    objects = template(values, release, namespace)  # helm validates the values against the chart's schema

    daemons = find(objects, "DaemonSet", binder.docker_api(release))["spec"]["template"]["spec"]
    assert daemons["nodeSelector"] == pool
    assert daemons["tolerations"] == [{"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user",
                                       "effect": "NoSchedule"}]
    # The host directories the chart gives the docker API are those the admission policy allows, and no other.
    assert sorted(v["hostPath"]["path"] for v in daemons["volumes"] if "hostPath" in v) == sorted(
        binder.docker_paths(namespace, release))

    config = yaml.safe_load(find(objects, "Secret", binder.builder(release))["stringData"]["chart-config.yaml"])
    hub_side = config["config"]["BinderHub"]
    assert hub_side["image_prefix"] == f"quay.example.org/builds/{namespace}-"
    assert hub_side["base_url"] == binder.BASE_URL and hub_side["auth_enabled"] is True
    assert config["config"]["KubernetesBuildExecutor"] == {"build_image": "quay.io/jupyterhub/repo2docker:x",
                                                           "node_selector": pool}
    assert config["config"]["GitHubRepoProvider"]["allowed_specs"] == ["^pangeo-data/.*$"]
    # The push login reaches the build pods' docker config, for the class's registry only.
    docker = json.loads(find(objects, "Secret", binder.push_secret(release))["stringData"]["config.json"])
    assert docker == {"auths": {"https://quay.example.org": {"auth": base64.b64encode(
        b"robot+builder:s3cret-push-password").decode()}}}
    # The chart's Role: pods and their logs in the hub's namespace, nothing else (no Secret, nothing cluster-wide).
    role = find(objects, "Role", binder.builder(release))
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"pods", "pods/log"}
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    # Builds and the docker API reach the internet, not the cluster's private ranges.
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert len(policies) == 2
    for found in policies:
        assert "10.0.0.0/8" in found["spec"]["egress"][0]["to"][0]["ipBlock"]["except"]
    service = find(objects, "Service", binder.builder(release))
    assert service["spec"]["ports"][0]["port"] == binder.PORT


def test_the_hub_registers_the_builder_and_its_users_may_reach_it(probe: Any) -> None:
    """Through the real chart's hub config: BinderHub a service with its OAuth client, the users' role holding
    the class's own scopes and access to the builder, and the spawn form's build choice on the profile."""
    own_role = {"hub": {"loadRoles": {"user": {"scopes": ["self", "access:services!service=usage-quota"]}}}}
    release = names.derive("team", "lab").binder_release
    values = render.deep_merge(
        render.values("team", "lab", spec(), None, "ops", class_values=own_role, catalog=hub_class()),
        binder.hub_values(spec(), hub_class(), release, "https://lab.example.org/"))
    found = probe(values, [{"name": "ada", "admin": False, "groups": []}])
    service = next(s for s in found["services"] if s["name"] == binder.SERVICE)
    assert service["url"] == f"http://{binder.builder(release)}:{binder.PORT}"
    # (the probe hides client ids: the values give BinderHub's, which its own JUPYTERHUB_CLIENT_ID matches)
    assert values["hub"]["services"][binder.SERVICE]["oauth_client_id"] == binder.CLIENT_ID
    assert service["oauth_redirect_uri"] == "https://lab.example.org/services/binder/oauth_callback"
    user_role = next(r for r in found["roles"] if r["name"] == "user")
    assert set(user_role["scopes"]) == {"self", "access:services!service=usage-quota",
                                        "access:services!service=binder"}

    image = render.profile_list(spec(), hub_class())[0]["profile_options"]["image"]
    assert image["dynamic_image_building"] == {"enabled": True}
    assert image["unlisted_choice"]["enabled"] is True  # where the built image arrives


def test_without_a_class_that_builds_nothing_is_rendered_and_the_hub_is_told_why() -> None:
    plain = HubClassSpec()
    refused = binder.refusal(spec(), plain, "plain")
    assert refused is not None and refused.reason == "BuildsNotInClass" and "HubClass plain" in refused.message
    assert binder.refusal(spec(), hub_class(), "builds") is None
    assert binder.hub_values(spec(), plain, "r", "https://x/") == {}
    assert binder.namespace_metadata(spec(), plain, "r", "team", "lab") == ({}, {})
    labels, notes = binder.namespace_metadata(spec(), hub_class(), "r", "team", "lab")
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged" and labels[binder.BUILDS_LABEL] == "true"
    # What the admission policy reads: the release, and the hub's pool as key=value pairs.
    assert notes == {binder.RELEASE_ANNOTATION: "r",
                     binder.POOL_ANNOTATION: "2i2c/hub-name=lab,hubs.2i2c.org/node-pool=build"}


def node(name: str, labels: dict[str, str], taints: list[dict[str, str]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}


def test_a_build_pool_must_exist_and_be_tainted() -> None:
    allowed = hub_class().binder
    assert allowed is not None
    pool = binder.pool_selector(allowed, "team", "lab")
    taint = {"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}
    labels = {"hubs.2i2c.org/node-pool": "build", "2i2c/hub-name": "lab"}
    user = node("user-1", {"hub.jupyter.org/node-purpose": "user"}, [taint])
    others = node("build-9", {**labels, "2i2c/hub-name": "other"}, [taint])  # another hub's build nodes
    missing = binder.pool_refusal(allowed, pool, [user, others])
    assert missing is not None and missing.reason == "BuildPoolMissing"
    bare = node("build-2", labels, [])
    wrong = node("build-3", labels, [{**taint, "effect": "PreferNoSchedule"}])
    good = node("build-1", labels, [taint])
    untainted = binder.pool_refusal(allowed, pool, [user, good, bare, wrong, others])
    assert untainted is not None and untainted.reason == "BuildPoolUntainted"
    assert "build-2, build-3" in untainted.message
    assert binder.pool_refusal(allowed, pool, [user, good, others]) is None


def test_each_hub_pushes_under_its_own_prefix_with_its_own_login() -> None:
    per_hub = hub_class(binder={**BINDER_CLASS, "registry": {**BINDER_CLASS["registry"],
                                                             "credentialsSecret": "registry-{hub.name}"}}).binder
    assert per_hub is not None
    a, b = names.derive("team", "a"), names.derive("team", "b")
    assert binder.image_prefix(per_hub, "team", "a", a.namespace) != binder.image_prefix(per_hub, "team", "b",
                                                                                         b.namespace)
    assert binder.credentials_secret(per_hub, "team", "a") == "registry-a"
    assert a.binder_release != b.binder_release and len(a.binder_release) <= names.RELEASE_MAX


def test_building_is_an_image_of_ones_own_so_the_tier_rule_on_unlisted_images_applies() -> None:
    essential = spec(community={**spec().community.model_dump(by_alias=True), "membership": "essential"})
    refused = policy.environment(essential, hub_class())
    assert refused.reason == "ProfileNotInTier" and "build an image" in refused.message, refused
    assert policy.environment(spec(), hub_class()).reason == "EnvironmentRendered"


PUBLIC_CLASS = {"publicHubs": {"maxConcurrentUsers": 200, "maxIdleMinutes": 30, "maxAgeMinutes": 720}}
LAUNCH = {"image": "quay.example.org/builds/lab-binder-examples-requirements:5f3c", "token": "launch-token-1"}


def binder_hub(provider: str = "none", **public: Any) -> CommunityHubSpec:
    """A Binder hub: the Binder page as its landing page; with provider none, no login (as pythia-binder)."""
    doc = copy.deepcopy(list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]["spec"])
    doc["environment"].pop("profiles")
    doc["environment"]["storage"] = {"type": "none"}
    doc["binder"] = {"landingPage": True}
    if provider == "none":
        doc["auth"] = {"provider": "none", "public": public or {"maxConcurrentUsers": 150, "idleMinutes": 15,
                                                               "maxAgeMinutes": 240}}
    return CommunityHubSpec.model_validate(doc)


def test_a_binder_hub_lands_on_its_binder_page_and_runs_the_image_of_each_launch(probe: Any) -> None:
    """Through the real chart's hub config, in the hub image's software: nobody logs in (NullAuthenticator), the
    hub's landing page is the Binder page, BinderHub may make users and start their servers, a launch's server
    runs the launch's image with the launch's token as a plain Jupyter server, and a start without a launch (no
    image) is refused; the caps and the culler are the spec's."""
    hub = binder_hub()
    classy = hub_class(**PUBLIC_CLASS)
    release = names.derive("team", "lab").binder_release
    values = render.deep_merge(render.values("team", "lab", hub, None, "ops", catalog=classy),
                               binder.hub_values(hub, classy, release, "https://lab.example.org/"))
    assert values["cull"] == {"enabled": True, "users": True, "adminUsers": False, "timeout": 900, "every": 600,
                              "maxAge": 14400}
    found = probe(values, [{"name": "visitor-1", "admin": False, "groups": [], "options": LAUNCH},
                           {"name": "visitor-2", "admin": False, "groups": []}])
    assert found["authenticator"]["class"] == "jupyterhub.auth.NullAuthenticator"
    assert found["hub"]["default_url"] == binder.BASE_URL
    assert found["hub"]["active_server_limit"] == 150
    launch_role = next(r for r in found["roles"] if r.get("services") == [binder.SERVICE])
    assert sorted(launch_role["scopes"]) == ["admin:users", "servers"]

    launched, without = found["servers"]
    container = launched["pod"]["spec"]["containers"][0]
    assert container["image"] == LAUNCH["image"]
    args = container["args"]
    assert "--ServerApp.token=launch-token-1" in args and "--NotebookApp.token=launch-token-1" in args
    assert "--ServerApp.base_url=/user/visitor-1/" in args
    assert "launched from its Binder page" in without["error"]


def test_a_binder_hub_with_a_login_keeps_its_users_own_servers(probe: Any) -> None:
    """A Binder hub whose users log in: BinderHub asks them to (its own auth through the hub), starts servers of
    theirs without making users, and the server is jupyterhub-singleuser, authenticated by the hub."""
    hub = binder_hub(provider="github")
    classy = hub_class()
    release = names.derive("team", "lab").binder_release
    values = render.deep_merge(render.values("team", "lab", hub, None, "ops", catalog=classy),
                               binder.hub_values(hub, classy, release, "https://lab.example.org/"))
    found = probe(values, [{"name": "ada", "admin": False, "groups": [], "options": LAUNCH}])
    assert found["authenticator"]["class"].endswith("GitHubOAuthenticator")
    assert found["hub"]["default_url"] == binder.BASE_URL
    launch_role = next(r for r in found["roles"] if r.get("services") == [binder.SERVICE])
    assert sorted(launch_role["scopes"]) == ["read:users", "servers"]
    container = found["servers"][0]["pod"]["spec"]["containers"][0]
    assert container["image"] == LAUNCH["image"]
    assert not any("token" in arg for arg in container.get("args") or [])


@pytest.mark.parametrize(("hub", "landing", "auth"), [("builds", False, True), ("login", True, True),
                                                      ("public", True, False)])
def test_binderhub_serves_its_page_only_on_a_binder_hub_and_its_own_login_unless_there_is_none(
        hub: str, landing: bool, auth: bool) -> None:
    made = {"builds": spec(), "login": binder_hub(provider="github"), "public": binder_hub()}[hub]
    hub_names = names.derive("team", "lab")
    values = binder.service_values(made, hub_class().binder,  # type: ignore[arg-type]
                                   release=hub_names.binder_release, hub_url="https://lab.example.org/",
                                   prefix="quay.example.org/builds/lab-", login=LOGIN,
                                   pool={"hubs.2i2c.org/node-pool": "build"})
    objects = template(values, hub_names.binder_release, hub_names.namespace)  # the chart's schema accepts them
    config = yaml.safe_load(find(objects, "Secret", binder.builder(hub_names.binder_release))
                            ["stringData"]["chart-config.yaml"])["config"]["BinderHub"]
    assert (config["enable_api_only_mode"], config["auth_enabled"]) == (not landing, auth)


def test_a_hub_with_no_login_needs_a_class_that_allows_it_within_its_bounds_and_no_homes() -> None:
    from communityhub.delivery import identity

    refused = identity.public_refusal(binder_hub(), hub_class(), "builds")
    assert refused is not None and refused.reason == "PublicHubsNotInClass" and "HubClass builds" in refused.message
    over = identity.public_refusal(binder_hub(maxConcurrentUsers=500, idleMinutes=15, maxAgeMinutes=900),
                                   hub_class(**PUBLIC_CLASS), "open")
    assert over is not None and over.reason == "PublicHubOverBounds"
    assert "maxConcurrentUsers 500 (the class allows 200)" in over.message
    assert "maxAgeMinutes 900 (the class allows 720)" in over.message and "idleMinutes" not in over.message
    keeps = binder_hub().model_copy(deep=True)
    keeps.environment.storage.type = "perUserVolume"
    files = identity.public_refusal(keeps, hub_class(**PUBLIC_CLASS), "open")
    assert files is not None and files.reason == "PublicHubKeepsFiles"
    assert identity.public_refusal(binder_hub(), hub_class(**PUBLIC_CLASS), "open") is None
    assert identity.public_refusal(spec(), hub_class(), "builds") is None  # a hub with a login: not asked


def test_the_serving_check_leaves_binder_hubs_alone() -> None:
    """A Binder hub's servers start only from a launch (an image BinderHub builds), which the serving check does not
    make: it would report a failure of a hub that serves. A hub that only builds is checked as any other."""
    import types

    from communityhub.steps import serving as serving_step

    def ctx(made: CommunityHubSpec) -> Any:
        return types.SimpleNamespace(spec=made, hub_class=types.SimpleNamespace(spec=hub_class(**PUBLIC_CLASS)),
                                     settings=types.SimpleNamespace(serving_check=True))

    assert serving_step.policy_of(ctx(binder_hub())) is None
    assert serving_step.policy_of(ctx(binder_hub(provider="github"))) is None
    assert serving_step.policy_of(ctx(spec())) is not None
