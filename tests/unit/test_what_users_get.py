"""What users get, read off the real chart's hub configuration (issue 31): the values the operator renders
are loaded by the JupyterHub chart's own ``jupyterhub_config.py`` in the hub image's software (KubeSpawner,
oauthenticator), and the pods KubeSpawner would create are compared with those of the chart values a
provider deploys today. Each test is one loss a move onto a CommunityHub must not bring, and failed on the
commit before its fix (``ffbd1ed``): there the model had no field for it, or the pod lacked what the source
hub's pod had.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from communityhub.adapters import hubconfig
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.delivery import policy, render
from localcluster import charts
from tests.unit.test_render import AUTHS, ENDPOINTS, base_spec

REQUIREMENTS = charts.SHARED.parent / "images" / "jupyterhub-4.4.0-hub-requirements.txt"
#: A user whose name needs escaping (an e-mail login), an admin, and a member of a group.
ANN = {"name": "ann.lee@example.org", "admin": False, "groups": []}
ADMIN = {"name": "boss", "admin": True, "groups": []}
CREW = {"name": "cara", "admin": False, "groups": ["org:crew"]}

#: A provider's class values as a wrapper chart keeps them (maps, keyed): /dev/shm, and the home mounted a
#: second time at /home/rstudio for rocker images (2i2c's basehub does both).
CLASS_MOUNTS: dict[str, Any] = {"singleuser": {"storage": {
    "extraVolumes": {"001-shm": {"name": "dev-shm", "emptyDir": {"medium": "Memory"}}},
    "extraVolumeMounts": {
        "001-shm": {"name": "dev-shm", "mountPath": "/dev/shm"},
        "003-rstudio": {"name": "home", "mountPath": "/home/rstudio", "subPath": "{escaped_username}"}}}}}
SHARED_CLASS = HubClassSpec.model_validate({"sharedStorage": {"storageClassName": "standard-rwx"},
                                            "values": CLASS_MOUNTS})


def test_the_hub_environment_holds_the_hub_images_pinned_software() -> None:
    """What the probe runs is the image's: every pin of its requirements file, as installed (the fleet's two
    extra packages must not have moved one)."""
    import subprocess

    pins = dict(line.split("==", 1) for line in REQUIREMENTS.read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    installed = subprocess.run([str(hubconfig.hub_python()), "-m", "pip", "list", "--format=json"],
                               capture_output=True, text=True, check=True).stdout
    def norm(name: str) -> str:  # PEP 503
        return re.sub(r"[-_.]+", "-", name).lower()
    have = {norm(p["name"]): p["version"] for p in json.loads(installed)}
    wrong = {name: (version, have.get(norm(name))) for name, version in pins.items() if have.get(norm(name)) != version}
    assert wrong == {}


def shared_spec(**storage: Any) -> CommunityHubSpec:
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["storage"] = {"type": "sharedNFS", **storage}
    return base_spec(environment=env)


def mounts(server: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in server["pod"]["spec"]["containers"][0]["volumeMounts"]}


def source_values(**storage: Any) -> dict[str, Any]:
    """The chart values such a hub is deployed with today (its home, and the class's maps)."""
    values = copy.deepcopy(CLASS_MOUNTS)
    values["singleuser"]["storage"].update({"type": "static", "static": {"pvcName": "home-nfs", **storage}})
    return values


def test_a_home_keeps_the_directory_name_of_the_chart_it_moves_from(probe: Any) -> None:
    """Loss 1: the source's homes are {escaped_username}; KubeSpawner 7's {username} names them otherwise
    for an e-mail login, so the moved hub would mount an empty directory."""
    source = probe(source_values(subPath="{escaped_username}"), [ANN])["servers"][0]
    spec = shared_spec(homeDirectory="escapedUsername")
    moved = probe(render.values("hubs", "lab", spec, class_values=SHARED_CLASS.values, catalog=SHARED_CLASS),
                  [ANN])["servers"][0]
    assert mounts(moved)["/home/jovyan"]["subPath"] == mounts(source)["/home/jovyan"]["subPath"]
    default = probe(render.values("hubs", "lab", shared_spec(), class_values=SHARED_CLASS.values,
                                  catalog=SHARED_CLASS), [ANN])["servers"][0]
    # Not the same name: what the field is for (a hub the operator made keeps {username}).
    assert mounts(default)["/home/jovyan"]["subPath"] != mounts(source)["/home/jovyan"]["subPath"]


def test_shared_directories_and_a_tmp_keep_the_class_mounts(probe: Any) -> None:
    """Loss 2: the operator's shared directories and /tmp came as lists, which replaced the class's maps."""
    spec = shared_spec(tmpSize="5Gi", sharedDirectories=[
        {"name": "shared", "mountPath": "/home/jovyan/shared", "readOnly": True}])
    server = probe(render.values("hubs", "lab", spec, class_values=SHARED_CLASS.values, catalog=SHARED_CLASS),
                   [ANN])["servers"][0]
    got = mounts(server)
    assert {"/dev/shm", "/home/rstudio", "/home/jovyan", "/home/jovyan/shared", "/tmp"} <= set(got), sorted(got)
    volumes = {v["name"]: v for v in server["pod"]["spec"]["volumes"]}
    assert volumes["dev-shm"]["emptyDir"] == {"medium": "Memory"}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "5Gi"}


def test_a_directory_for_a_group_is_mounted_for_its_members(probe: Any) -> None:
    """Loss 3a: with groups used only by a shared directory, the hub never managed groups, so the directory
    was mounted for nobody."""
    spec = shared_spec(sharedDirectories=[
        {"name": "crew", "mountPath": "/home/jovyan/crew", "who": "groups", "groups": ["org:crew"]}])
    spec = spec.model_copy(update={"auth": CommunityHubSpec.model_validate(
        {**base_spec().model_dump(by_alias=True, exclude_none=True), "auth": AUTHS["github"]}).auth})
    got = probe(render.values("hubs", "lab", spec, class_values=SHARED_CLASS.values, catalog=SHARED_CLASS),
                [ANN, CREW])
    assert got["authenticator"].get("manage_groups") is True
    assert got["authenticator"].get("populate_teams_in_auth_state") is True
    by_user = {s["user"]: mounts(s) for s in got["servers"]}
    assert "/home/jovyan/crew" in by_user["cara"] and "/home/jovyan/crew" not in by_user[ANN["name"]]


def test_an_oidc_profile_for_a_group_is_offered_to_its_members(probe: Any) -> None:
    """Loss 3b: OIDC profiles gated by allowedGroups, with no allowedGroups on the hub, offered to nobody:
    groups were not taken from the issuer's claim."""
    oidc = copy.deepcopy(AUTHS["oidc"])
    oidc["oidc"].pop("allowedGroups")
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "small", "memory": "2Gi", "default": True},
                       {"name": "big", "memory": "8Gi", "allowedGroups": ["org:crew"]}]
    spec = base_spec(auth=oidc, environment=env)
    got = probe(render.values("hubs", "lab", spec, oidc_endpoints=ENDPOINTS), [ANN, CREW])
    assert got["authenticator"].get("manage_groups") is True
    assert got["authenticator"].get("auth_state_groups_key") == "oauth_user.roles"
    offered = {(s["user"], s["profile"]) for s in got["servers"]}
    assert offered == {(ANN["name"], "small"), ("cara", "small"), ("cara", "big")}


def test_a_google_domain_lets_its_users_in_and_admins_match_their_names(probe: Any) -> None:
    """Loss 4: with allowedUsers, allow_all was dropped while hosted_domain stays a hard filter (the domain's
    users shut out); with one domain oauthenticator strips it from names, so an admin written as an e-mail
    address never matched."""
    google = {**AUTHS["google"], "allowedUsers": ["guest@example.edu"]}
    hub = {**base_spec().hub.model_dump(by_alias=True, exclude_none=True), "adminUsers": ["boss@example.edu"]}
    got = probe(render.values("hubs", "lab", base_spec(auth=google, hub=hub)), [ANN])["authenticator"]
    assert got["class"] == "oauthenticator.google.GoogleOAuthenticator"
    assert got.get("allow_all") is True
    assert got["hosted_domain"] == ["example.edu"]
    assert got["admin_users"] == ["boss"] and got["allowed_users"] == ["guest"]


def test_branding_reaches_the_variables_the_class_templates_read(probe: Any) -> None:
    """Loss 5a: branding went to template_vars.org while a wrapper chart's templates read custom.*, taken from
    its own values by its extraConfig (2i2c's basehub: custom.homepage.templateVars)."""
    hub_class = HubClassSpec.model_validate({"brandingValuesPath": "custom.homepage.templateVars", "values": {
        "custom": {"homepage": {"templateVars": {"designed_by": {"name": "2i2c"}}}},
        "hub": {"extraConfig": {"01-custom-theme": (
            "from z2jh import get_config\n"
            "c.JupyterHub.template_vars.update({'custom': get_config('custom.homepage.templateVars')})\n")}}}})
    hub = {**base_spec().hub.model_dump(by_alias=True, exclude_none=True),
           "branding": {"orgName": "Lab", "orgUrl": "https://lab.example.org/", "announcement": "Welcome"}}
    got = probe(render.values("hubs", "lab", base_spec(hub=hub), class_values=hub_class.values,
                              catalog=hub_class), [ANN])["hub"]["template_vars"]
    assert got["custom"] == {"designed_by": {"name": "2i2c"},
                             "org": {"name": "Lab", "url": "https://lab.example.org/"}}
    assert got["announcement"] == "Welcome"


def test_a_profile_that_bursts_to_its_node_size_fits_its_pool() -> None:
    """Loss 5b: the fit check compared a profile's limit with the pool's allocatable, refusing real hubs
    whose servers are guaranteed a share of a node and may burst to all of it; the guarantee must fit."""
    catalog = HubClassSpec.model_validate({"nodePools": [
        {"name": "n", "machineType": "r5.xlarge", "cpu": 3.5, "memory": "28Gi"}]})
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "burst", "cpu": 0.5, "cpuLimit": 4, "memory": "4Gi", "memoryLimit": "32Gi",
                        "nodePool": "n"}]
    research = {**base_spec().community.model_dump(by_alias=True), "archetype": "research"}
    assert policy.environment(base_spec(environment=env, community=research), catalog).status != "False"
    env["profiles"][0].update({"memory": "30Gi"})
    refused = policy.environment(base_spec(environment=env, community=research), catalog)
    assert (refused.status, refused.reason) == ("False", "ProfileExceedsNodePool")


def test_admin_and_group_directories_reach_only_those_users_and_keep_the_class_hook(probe: Any) -> None:
    """The operator's modify_pod_hook mounts the admins' and the groups' directories into those users' servers
    only; a hook the class's own extraConfig set (2i2c's basehub mounts admins' extras and adds an init
    container so) still runs, first: before, ours replaced it."""
    class_hook = ("from kubernetes_asyncio.client.models import V1EnvVar\n"
                  "def provider_hook(spawner, pod):\n"
                  "    pod.spec.containers[0].env.append(V1EnvVar(name='PROVIDER_HOOK', value='ran'))\n"
                  "    return pod\n"
                  "c.KubeSpawner.modify_pod_hook = provider_hook\n")
    hub_class = HubClassSpec.model_validate({**SHARED_CLASS.model_dump(by_alias=True, exclude_none=True),
                                             "values": {**CLASS_MOUNTS, "hub": {"extraConfig": {
                                                 "02-provider-spawner": class_hook}}}})
    spec = shared_spec(sharedDirectories=[
        {"name": "shared", "mountPath": "/home/jovyan/shared-readwrite", "readOnly": False, "who": "admins"},
        {"name": "course", "mountPath": "/home/jovyan/course", "readOnly": False, "who": "groups",
         "groups": ["org:crew"]}])
    spec = spec.model_copy(update={"auth": CommunityHubSpec.model_validate(
        {**base_spec().model_dump(by_alias=True, exclude_none=True), "auth": AUTHS["github"]}).auth})
    got = probe(render.values("hubs", "lab", spec, class_values=hub_class.values, catalog=hub_class),
                [ANN, ADMIN, CREW])
    by_user = {s["user"]: s for s in got["servers"]}
    extra = {"/home/jovyan/shared-readwrite", "/home/jovyan/course"}
    assert extra & set(mounts(by_user[ANN["name"]])) == set()
    assert extra & set(mounts(by_user["boss"])) == {"/home/jovyan/shared-readwrite"}
    assert extra & set(mounts(by_user["cara"])) == {"/home/jovyan/course"}
    assert mounts(by_user["boss"])["/home/jovyan/shared-readwrite"]["subPath"] == "_shared"
    for server in by_user.values():
        env = {e["name"]: e.get("value") for e in server["pod"]["spec"]["containers"][0]["env"]}
        assert env.get("PROVIDER_HOOK") == "ran", server["user"]


def test_profiles_for_groups_keep_a_class_that_made_the_profile_list_callable(probe: Any) -> None:
    """Found by ``hubctl import``'s report (nasa-cryo): 2i2c's basehub turns profile_list into a callable in
    its own extraConfig; the operator's group filter iterated it and every user of such a class was offered
    no profile at all (a TypeError in the spawn form)."""
    class_list = ("import functools\n"
                  "def provider_profiles(profiles, spawner):\n"
                  "    return [dict(p, description='from the class') for p in profiles]\n"
                  "c.KubeSpawner.profile_list = functools.partial(provider_profiles, c.KubeSpawner.profile_list)\n")
    hub_class = HubClassSpec.model_validate({"values": {"hub": {"extraConfig": {"05-profile-groups": class_list}}}})
    oidc = copy.deepcopy(AUTHS["oidc"])
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "small", "memory": "2G", "default": True},
                       {"name": "big", "memory": "8G", "allowedGroups": ["org:crew"]}]
    spec = base_spec(auth=oidc, environment=env)
    got = probe(render.values("hubs", "lab", spec, oidc_endpoints=ENDPOINTS, class_values=hub_class.values,
                              catalog=hub_class), [ANN, CREW])
    assert not [s for s in got["servers"] if "error" in s], got["servers"]
    offered = {(s["user"], s["profile"]) for s in got["servers"]}
    assert offered == {(ANN["name"], "small"), ("cara", "small"), ("cara", "big")}


def test_a_user_in_none_of_the_profiles_groups_gets_no_server_rather_than_the_default(probe: Any) -> None:
    """Found by ``hubctl import``'s report (2i2c-aws-us/showcase): when every profile is for some groups, the
    operator's filter returned an empty list to a user of none of them, and KubeSpawner reads an empty list as
    "no profiles": that user got the default server, past every profile's groups. The fleet's chart refuses
    the spawn; so does the operator now."""
    oidc = copy.deepcopy(AUTHS["oidc"])
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "big", "memory": "8G", "allowedGroups": ["org:crew"]}]
    spec = base_spec(auth=oidc, environment=env)
    got = probe(render.values("hubs", "lab", spec, oidc_endpoints=ENDPOINTS), [ANN, CREW])
    by_user = {s["user"]: s for s in got["servers"]}
    assert "403" in by_user[ANN["name"]].get("error", ""), by_user[ANN["name"]]
    assert by_user["cara"]["profile"] == "big" and "pod" in by_user["cara"]


def test_sizes_inside_a_profile_and_a_size_for_a_group(probe: Any) -> None:
    """Resource choices inside one profile (22 of the fleet's 29 hubs offer them), one of them for a group: a
    user picks an image and a size; the group's size is offered to its members only, also after a user of no
    group asked first (the filter must not trim the hub's one list)."""
    oidc = copy.deepcopy(AUTHS["oidc"])
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "cpu", "displayName": "CPU", "memory": "2G", "default": True,
                        "sizesLabel": "Resource Allocation", "sizes": [
                            {"name": "small", "displayName": "~2 GB", "memory": "2G", "cpu": 0.25, "cpuLimit": 4},
                            {"name": "big", "displayName": "~60 GB", "memory": "60G", "cpu": 8, "cpuLimit": 16,
                             "allowedGroups": ["org:crew"], "env": {"BIG": "yes"}}]}]
    spec = base_spec(auth=oidc, environment=env)
    assert policy.environment(spec).status != "False"
    got = probe(render.values("hubs", "lab", spec, oidc_endpoints=ENDPOINTS), [ANN, CREW])
    sizes = {(s["user"], s["labels"]["options"].get("Resource Allocation")): s for s in got["servers"]}
    assert set(sizes) == {(ANN["name"], "~2 GB"), ("cara", "~2 GB"), ("cara", "~60 GB")}
    big = sizes[("cara", "~60 GB")]["pod"]["spec"]["containers"][0]
    assert big["resources"]["requests"] == {"cpu": 8.0, "memory": 60 * 2**30}, big["resources"]
    assert {"name": "BIG", "value": "yes"} in big["env"]


def test_a_gpu_profile_without_a_memory_limit_has_none_whatever_the_class_sets(probe: Any) -> None:
    """The fleet's GPU profiles guarantee memory and set no limit (the node is the server's own); the class's
    hub-wide limit (basehub's 1G) must not creep back in. Only where the class's tier allows it."""
    pools = [{"name": "t4", "machineType": "g4dn.xlarge", "cpu": 3.5, "memory": "15G",
              "gpu": {"type": "nvidia-tesla-t4", "count": 1}}]
    hub_class = HubClassSpec.model_validate({"nodePools": pools, "values": {"singleuser": {
        "memory": {"guarantee": "256M", "limit": "1G"}}}})
    env = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    env["profiles"] = [{"name": "gpu", "memory": "14G", "gpu": 1, "nodePool": "t4", "unlimited": ["memory"]}]
    spec = base_spec(environment=env)
    assert policy.environment(spec, hub_class).reason == "ProfileNotInTier"
    allowing = hub_class.model_copy(update={"tiers": HubClassSpec.model_validate(
        {"tiers": {"general": {"unlimited": True}}}).tiers})
    assert policy.environment(spec, allowing).status != "False"
    got = probe(render.values("hubs", "lab", spec, class_values=allowing.values, catalog=allowing), [ANN])
    resources = got["servers"][0]["pod"]["spec"]["containers"][0]["resources"]
    assert "memory" not in resources.get("limits", {}) and resources["requests"]["memory"] == 14 * 2**30
    assert resources["limits"]["nvidia.com/gpu"] in ("1", 1)


def test_a_workshop_lets_its_temporary_visitors_in(probe: Any) -> None:
    """Found by serving a workshop on process pods (tests/integration/test_serving.py): the rendered
    TmpAuthenticator had no allow rule, so JupyterHub 5 turned every visitor away ("User ... not allowed", a 500
    at /hub/tmplogin)."""
    from tests.unit.test_identity_providers import workshop

    got = probe(render.values("hubs", "lab", workshop()), [])
    assert got["authenticator"]["class"] == "tmpauthenticator.TmpAuthenticator"
    assert got["authenticator"]["allow_all"] is True


def test_a_workshop_makes_a_user_only_for_a_visitor_who_signs_in(probe: Any) -> None:
    """Found by `make demo` (curl -sL of the workshop's URL): with TmpAuthenticator's auto_login, every request to
    /hub/login without a cookie made a new temporary user (50 of them before curl gave up on the redirects), as a
    crawler or a link preview would. The login page asks first."""
    from tests.unit.test_identity_providers import workshop

    got = probe(render.values("hubs", "lab", workshop()), [])
    # (The probe lists traits away from their defaults: Authenticator's auto_login default is False.)
    assert got["authenticator"].get("auto_login", False) is False, got["authenticator"]
    assert got["authenticator"]["login_service"] == "a temporary account"  # "Sign in with a temporary account"


def dask_spec() -> CommunityHubSpec:
    return base_spec(dask={"enabled": True})


def test_a_daskhub_server_starts_with_the_gateway_environment_and_access(probe: Any) -> None:
    """Found by comparing showcase (2i2c-aws-us) once the import typed its Dask wiring: the operator's
    ``{JUPYTER_IMAGE_SPEC}`` went through KubeSpawner's expansion of the user's names, and every server of every
    daskhub failed to start (KeyError). The server now sees what the gateway client fills in, Kubernetes expands
    the buckets for workers, and users and their servers' tokens may use the gateway service."""
    from communityhub.delivery import components, names

    spec = dask_spec()
    values = components.with_hub_side(render.values("hubs", "lab", spec), spec, None, names.derive("hubs", "lab"))
    got = probe(values, [ANN])
    server = got["servers"][0]
    assert "error" not in server, server.get("error")
    env = {e["name"]: e.get("value") for e in server["pod"]["spec"]["containers"][0]["env"]}
    assert env["DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE"] == "{JUPYTER_IMAGE_SPEC}"
    assert env["DASK_GATEWAY__CLUSTER__OPTIONS__ENVIRONMENT"] == \
        '{"SCRATCH_BUCKET": "$(SCRATCH_BUCKET)", "PANGEO_SCRATCH": "$(PANGEO_SCRATCH)"}'
    assert env["DASK_DISTRIBUTED__DASHBOARD__LINK"] == "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"
    roles = {r["name"]: set(r["scopes"]) for r in got["roles"]}
    assert "access:services!service=dask-gateway" in roles["user"] and "self" in roles["user"]
    assert {"access:services!service=dask-gateway", "users:activity!user"} <= roles["server"]


def test_a_hub_goes_without_the_class_values_it_declines(probe: Any) -> None:
    """A workshop without its class's shared directory, as the fleet's workshops remove it with a null: the
    class offers the part, the hub declines it, and only that part is gone."""
    offered = HubClassSpec.model_validate({**SHARED_CLASS.model_dump(by_alias=True, exclude_none=True),
                                           "optionalValues": {"rstudio-home": {
                                               "description": "the home mounted again at /home/rstudio",
                                               "paths": ["singleuser.storage.extraVolumeMounts.003-rstudio"]}}})
    kept = probe(render.values("hubs", "lab", shared_spec(), class_values=offered.values, catalog=offered),
                 [ANN])["servers"][0]
    assert "/home/rstudio" in mounts(kept)
    spec = shared_spec()
    spec.hub.declined_values = ["rstudio-home"]
    without = probe(render.values("hubs", "lab", spec, class_values=offered.values, catalog=offered),
                    [ANN])["servers"][0]
    assert "/home/rstudio" not in mounts(without) and {"/dev/shm", "/home/jovyan"} <= set(mounts(without))
    assert policy.class_choice_refusal(spec, offered, "c") is None
    spec.hub.declined_values = ["dev-shm"]
    refused = policy.class_choice_refusal(spec, offered, "c")
    assert refused is not None and refused.reason == "ValuesNotOptional" and "rstudio-home" in refused.message
