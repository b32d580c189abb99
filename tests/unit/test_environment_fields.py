"""The typed fields real communities vary (issue 20): branding, a guarantee below the limit, named servers,
and profiles that pick a node pool (and its GPU type) and images from their HubClass's catalog. Each is
rendered into the real chart's values and bounded by the class's catalog and the tier."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from communityhub.api.models import Branding, HubClassSpec
from communityhub.delivery import policy, render
from tests.unit.test_render import base_spec

CATALOG = HubClassSpec.model_validate({
    "nodePools": [
        {"name": "small", "machineType": "n2-highmem-4", "cpu": 3.5, "memory": "28Gi"},
        {"name": "t4", "machineType": "n1-highmem-8", "cpu": 7.5, "memory": "48Gi",
         "nodeSelector": {"cloud.google.com/gke-nodepool": "nb-gpu-t4"},
         "gpu": {"type": "nvidia-tesla-t4", "count": 1}},
    ],
    "images": [
        {"name": "pangeo", "reference": "quay.io/pangeo/pangeo-notebook:2024.04.08", "description": "Pangeo"},
        {"name": "rocker", "reference": "rocker/binder:4.3"},
    ],
    "tiers": {"essential": {"nodePools": ["small"], "images": ["pangeo"], "gpu": False, "ownImages": False,
                            "unlistedImage": False, "maxProfiles": 3}},
})


def with_profiles(*profiles: dict[str, Any], **community: Any) -> Any:
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "profiles": list(profiles)}
    return base_spec(environment=env, community={**base_spec().community.model_dump(by_alias=True), **community})


def only(values: dict[str, Any]) -> dict[str, Any]:
    profiles: list[dict[str, Any]] = values["singleuser"]["profileList"]
    assert len(profiles) == 1
    return profiles[0]


def test_a_profile_runs_on_its_catalog_pool_with_its_gpu_type_and_bursts_to_its_limit() -> None:
    spec = with_profiles({"name": "gpu", "cpu": 2, "cpuLimit": 4, "memory": "8Gi", "memoryLimit": "16Gi",
                          "gpu": 1, "nodePool": "t4", "defaultUrl": "/rstudio"})
    entry = only(render.values("hubs", "lab", spec, catalog=CATALOG))
    override = entry["kubespawner_override"]
    assert override["node_selector"] == {"cloud.google.com/gke-nodepool": "nb-gpu-t4"}
    assert (override["cpu_guarantee"], override["cpu_limit"]) == (2, 4)
    # JupyterHub reads G as GiB (render.spawner_memory): the same bytes as 8Gi and 16Gi.
    assert (override["mem_guarantee"], override["mem_limit"]) == ("8G", "16G")
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert override["default_url"] == "/rstudio"
    assert entry["description"] == "2 to 4 CPU, 8Gi to 16Gi memory, 1 GPU (nvidia-tesla-t4)"


def test_a_pool_without_labels_is_selected_by_its_machine_type() -> None:
    entry = only(render.values("hubs", "lab", with_profiles({"name": "s", "cpu": 1, "memory": "4Gi",
                                                            "nodePool": "small"}), catalog=CATALOG))
    assert entry["kubespawner_override"]["node_selector"] == {"node.kubernetes.io/instance-type": "n2-highmem-4"}


def test_image_choices_become_profile_options_the_first_preselected_and_unlisted_checked() -> None:
    spec = with_profiles({"name": "py", "cpu": 1, "memory": "4Gi", "imageChoices": ["rocker", "pangeo"],
                          "unlistedImage": True})
    option = only(render.values("hubs", "lab", spec, catalog=CATALOG))["profile_options"]["image"]
    # Shown in name order (the values are JSON with sorted keys); the first the profile lists is preselected.
    assert sorted(option["choices"]) == ["pangeo", "rocker"]
    assert "default" not in option["choices"]["pangeo"]
    assert option["choices"]["rocker"] == {"display_name": "rocker", "default": True,
                                           "kubespawner_override": {"image": "rocker/binder:4.3"}}
    assert option["choices"]["pangeo"]["display_name"] == "Pangeo"
    unlisted = option["unlisted_choice"]
    assert unlisted["enabled"] and unlisted["kubespawner_override"] == {"image": "{value}"}
    import re
    assert re.match(unlisted["validation_regex"], "quay.io/me/image:1.0")
    assert not re.match(unlisted["validation_regex"], "no-tag")


def test_hubs_without_profiles_get_their_guarantee_and_limit() -> None:
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "profiles": [],
           "resources": {"cpu": 0.5, "cpuLimit": 2, "memory": "512M", "memoryLimit": "2G"}}
    values = render.values("hubs", "lab", base_spec(environment=env))
    assert values["singleuser"]["cpu"] == {"guarantee": 0.5, "limit": 2}
    assert values["singleuser"]["memory"] == {"guarantee": "512M", "limit": "2G"}


def test_named_servers_and_branding_reach_the_hubs_config() -> None:
    hub = {**base_spec().hub.model_dump(by_alias=True), "branding": {
        "orgName": "Temple University", "orgUrl": "https://www.temple.edu/", "logoUrl": "https://x.example/t.svg",
        "fundedByName": "Temple University", "fundedByUrl": "https://www.temple.edu/",
        "announcement": "Maintenance on Friday"}}
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True),
           "namedServers": {"limitPerUser": 3}}
    config = render.values("hubs", "lab", base_spec(hub=hub, environment=env))["hub"]["config"]["JupyterHub"]
    assert config["allow_named_servers"] is True and config["named_server_limit_per_user"] == 3
    assert config["template_vars"] == {
        "org": {"name": "Temple University", "url": "https://www.temple.edu/", "logo_url": "https://x.example/t.svg"},
        "funded_by": {"name": "Temple University", "url": "https://www.temple.edu/"},
        "announcement": "Maintenance on Friday"}
    assert config["authenticator_class"] == "github"  # beside what the operator renders there already


def test_a_login_redirect_is_where_users_land() -> None:
    for target in ("/hub/home", "https://docs.example.org/start"):
        hub = {**base_spec().hub.model_dump(by_alias=True), "branding": {"loginRedirect": target}}
        assert render.values("hubs", "lab", base_spec(hub=hub))["hub"]["config"]["JupyterHub"]["default_url"] == target
    with pytest.raises(ValidationError):
        Branding.model_validate({"loginRedirect": "javascript:alert(1)"})


@pytest.mark.parametrize("field, value", [("orgName", "<script>x</script>"), ("announcement", "two\nlines"),
                                          ("logoUrl", "http://insecure.example/logo.png"),
                                          ("orgUrl", "javascript:alert(1)")])
def test_branding_is_plain_text_and_https_urls(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Branding.model_validate({field: value})


REFUSALS = [
    ({"name": "p", "cpu": 1, "memory": "4Gi", "nodePool": "huge"}, {}, "NotInCatalog",
     "node pool huge is not in the HubClass's catalog (it has: small, t4)"),
    ({"name": "p", "cpu": 1, "memory": "4Gi", "imageChoices": ["nope"]}, {}, "NotInCatalog",
     "image nope is not in the HubClass's catalog (it has: pangeo, rocker)"),
    ({"name": "p", "cpu": 1, "memory": "4Gi", "gpu": 1, "nodePool": "small"}, {}, "ProfileExceedsNodePool",
     "a node of pool small has no GPU"),
    ({"name": "p", "cpu": 1, "memory": "40Gi", "nodePool": "small"}, {}, "ProfileExceedsNodePool",
     "gives a server at most 3.5 CPU and 28Gi"),
    ({"name": "p", "cpu": 1, "cpuLimit": 8, "memory": "4Gi"}, {"archetype": "education"}, "ProfileExceedsLimits",
     "asks for 8 CPU and 4Gi; education hubs allow at most 4 CPU"),
    ({"name": "p", "cpu": 1, "memory": "4Gi", "nodePool": "t4"}, {"membership": "essential"}, "ProfileNotInTier",
     "essential membership may use small"),
    ({"name": "p", "cpu": 1, "memory": "4Gi", "imageChoices": ["rocker"]}, {"membership": "essential"},
     "ProfileNotInTier", "essential membership may offer pangeo"),
    ({"name": "p", "cpu": 1, "memory": "4Gi", "unlistedImage": True}, {"membership": "essential"},
     "ProfileNotInTier", "essential membership offers listed images only"),
]


@pytest.mark.parametrize("profile, community, reason, message", REFUSALS, ids=[r[3][:40] for r in REFUSALS])
def test_profiles_are_bounded_by_the_catalog_and_the_tier(profile: dict[str, Any], community: dict[str, Any],
                                                          reason: str, message: str) -> None:
    verdict = policy.environment(with_profiles(profile, **community), CATALOG)
    assert (verdict.status, verdict.reason) == ("False", reason)
    assert message in verdict.message


def test_what_the_catalog_and_tier_allow_passes() -> None:
    ok = with_profiles({"name": "p", "cpu": 1, "cpuLimit": 3, "memory": "4Gi", "nodePool": "small",
                        "imageChoices": ["pangeo"]}, membership="essential")
    assert policy.environment(ok, CATALOG).status == "Unknown"


def test_a_catalog_name_without_a_class_says_the_hub_has_none() -> None:
    verdict = policy.environment(with_profiles({"name": "p", "cpu": 1, "memory": "4Gi", "nodePool": "small"}))
    assert verdict.reason == "NotInCatalog" and "this hub has no HubClass" in verdict.message


def test_a_server_without_profiles_is_bounded_by_the_archetype() -> None:
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "profiles": [],
           "resources": {"cpu": 1, "memory": "1Gi", "memoryLimit": "64Gi"}}
    community = {**base_spec().community.model_dump(by_alias=True), "archetype": "education"}
    verdict = policy.environment(base_spec(environment=env, community=community))
    assert verdict.reason == "ServerExceedsLimits" and "64Gi" in verdict.message


def storage_spec(**storage: Any) -> Any:
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "storage": storage}
    return base_spec(environment=env)


SHARED = storage_spec(type="sharedNFS", tmpSize="5Gi", sharedDirectories=[
    {"name": "shared", "mountPath": "/home/jovyan/shared"},
    {"name": "shared", "mountPath": "/home/jovyan/shared-readwrite", "readOnly": False, "who": "admins"},
    {"name": "course", "mountPath": "/home/jovyan/course", "readOnly": False, "who": "groups",
     "groups": ["instructors"]}])


def test_a_shared_home_is_a_directory_per_user_with_everyones_shared_directories() -> None:
    values = render.values("hubs", "lab", SHARED)
    assert values["singleuser"]["storage"] == {
        "type": "static", "static": {"pvcName": "home-nfs", "subPath": "{username}"},
        "extraVolumeMounts": {
            "communityhub-shared/home/jovyan/shared": {"name": "home", "mountPath": "/home/jovyan/shared",
                                                       "subPath": "_shared", "readOnly": True},
            "communityhub-tmp": {"name": "tmp", "mountPath": "/tmp"}},
        "extraVolumes": {"communityhub-tmp": {"name": "tmp", "emptyDir": {"sizeLimit": "5Gi"}}}}
    assert "home on the hub's shared volume" in policy.describe_environment(SHARED)


def test_no_home_and_a_per_user_volume() -> None:
    assert render.values("hubs", "lab", storage_spec(type="none"))["singleuser"]["storage"] == {"type": "none"}
    assert render.values("hubs", "lab", storage_spec())["singleuser"]["storage"] == {
        "type": "dynamic", "capacity": "10Gi"}
    assert render.shared_directories_config(storage_spec()) is None


def test_shared_storage_needs_a_class_that_offers_it() -> None:
    assert policy.environment(SHARED).reason == "SharedStorageNotOffered"
    assert policy.environment(SHARED, CATALOG).reason == "SharedStorageNotOffered"
    offering = CATALOG.model_copy(update={"shared_storage": HubClassSpec.model_validate(
        {"sharedStorage": {"storageClassName": "standard-rwx"}}).shared_storage})
    assert policy.environment(SHARED, offering).status == "Unknown"


def offered(spec: Any, groups: list[str]) -> list[str]:
    """The profiles a user of ``groups`` is offered: the rendered extraConfig run over the rendered
    profile_list, as the chart's jupyterhub_config.py runs hub.extraConfig after setting profile_list."""
    import asyncio
    import types
    values = render.values("hubs", "lab", spec, catalog=CATALOG)
    code = values["hub"]["extraConfig"]["communityhub-profile-groups"]

    class Config:
        class KubeSpawner:
            profile_list: Any = values["singleuser"]["profileList"]
    exec(compile(code, "extraConfig", "exec"), {"c": Config})
    user = types.SimpleNamespace(groups=[types.SimpleNamespace(name=g) for g in groups])
    profiles = asyncio.run(Config.KubeSpawner.profile_list(types.SimpleNamespace(user=user)))
    assert all(render.ALLOWED_GROUPS_KEY not in p for p in profiles)  # KubeSpawner never sees the key
    return [p["slug"] for p in profiles]


GROUPED = with_profiles({"name": "small", "cpu": 1, "memory": "4Gi"},
                        {"name": "gpu", "cpu": 1, "memory": "4Gi", "gpu": 1, "nodePool": "t4",
                         "allowedGroups": ["CryoInTheCloud:ml-in-glaciology", "staff"]})


def test_a_profile_for_some_groups_is_offered_to_their_members_only() -> None:
    assert offered(GROUPED, []) == ["small"]
    assert offered(GROUPED, ["students"]) == ["small"]
    assert offered(GROUPED, ["students", "CryoInTheCloud:ml-in-glaciology"]) == ["small", "gpu"]


def test_without_group_profiles_nothing_is_rendered() -> None:
    assert render.profile_groups_config(with_profiles({"name": "small", "cpu": 1, "memory": "4Gi"})) is None


PULLER = CATALOG.model_copy(update={"content_puller": "quay.io/example/nbgitpuller:1.2"})
CURRICULUM = {"name": "p", "cpu": 1, "memory": "4Gi",
              "content": {"repository": "https://github.com/neurohackademy/nh2022-curriculum.git"}}


def test_content_is_pulled_into_the_home_by_the_class_puller() -> None:
    spec = with_profiles(CURRICULUM)
    container = only(render.values("hubs", "lab", spec, catalog=PULLER))["kubespawner_override"]["init_containers"][0]
    assert container == {
        "name": "content", "image": "quay.io/example/nbgitpuller:1.2",
        "command": ["gitpuller", "https://github.com/neurohackademy/nh2022-curriculum.git", "main",
                    "/home/jovyan/nh2022-curriculum"],
        "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}
    shared = base_spec(environment={**spec.environment.model_dump(by_alias=True, exclude_none=True),
                                    "storage": {"type": "sharedNFS"}})
    mount = only(render.values("hubs", "lab", shared, catalog=PULLER))["kubespawner_override"]["init_containers"][0]
    assert mount["volumeMounts"] == [{"name": "home", "mountPath": "/home/jovyan", "subPath": "{username}"}]


def test_a_repository_name_becomes_a_safe_directory() -> None:
    assert render.content_directory("https://example.org/a/b.git/") == "b"
    assert render.content_directory("https://example.org/a/..") == "content"
    assert render.content_directory("https://example.org/we%20ird$name") == "we-20ird-name"


def test_content_needs_a_class_puller_and_a_home() -> None:
    assert policy.environment(with_profiles(CURRICULUM), CATALOG).reason == "ContentNotOffered"
    assert policy.environment(with_profiles(CURRICULUM), PULLER).status == "Unknown"
    env = {**with_profiles(CURRICULUM).environment.model_dump(by_alias=True, exclude_none=True),
           "storage": {"type": "none"}}
    assert policy.environment(base_spec(environment=env), PULLER).reason == "ContentNeedsHome"


def test_a_hubs_own_pre_pull_choice_goes_over_its_classs_default() -> None:
    """environment.prePull (ucmerced prod's continuous puller): the hub's choice over the class's prePuller values
    (which otherwise override the operator's default: on for a dedicated cluster, off on a shared one)."""
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    off = {"prePuller": {"continuous": {"enabled": False}, "extraTolerations": [{"key": "k", "operator": "Exists"}]}}
    on = render.values("hubs", "lab", base_spec(environment={**env, "prePull": True}), class_values=off)
    assert on["prePuller"]["continuous"] == {"enabled": True}
    assert on["prePuller"]["extraTolerations"] == off["prePuller"]["extraTolerations"]  # the class's own settings
    assert render.values("hubs", "lab", base_spec(), class_values=off)["prePuller"]["continuous"]["enabled"] is False
    assert render.values("hubs", "lab", base_spec())["prePuller"]["continuous"]["enabled"] is False  # shared
    assert render.values("hubs", "lab", base_spec(environment={**env, "prePull": False}),
                         class_values={"prePuller": {"continuous": {"enabled": True}}})["prePuller"][
        "continuous"]["enabled"] is False


def test_pre_pull_on_a_shared_cluster_needs_a_class_that_gives_hubs_nodes_of_their_own() -> None:
    """A tenant's prePull puts a pod of its hub on every user node its servers may use: on a shared cluster only
    where the class allows it (hubsMayPrePull), else refused with a reason; a dedicated hub's nodes are its own."""
    env = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "prePull": True}
    spec = base_spec(environment=env)
    refused = policy.environment(spec, HubClassSpec())
    assert refused.status == "False" and refused.reason == "PrePullNotOffered", refused
    assert policy.environment(spec, None).reason == "PrePullNotOffered"
    assert policy.environment(spec, HubClassSpec(hubsMayPrePull=True)).status != "False"
    assert policy.environment(base_spec(environment={**env, "prePull": False}), HubClassSpec()).status != "False"
