"""examples/fleet/: CommunityHubs modeled on public configurations of real hubs (2i2c-org/infrastructure), each
rendered with its HubClass and checked against what its source hub sets. FACTS are copied from the source
files named in each example, in chart-value terms (dotted paths into the rendered values), so a rendering
that drifts from the real hub fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.api.models import CommunityHub, HubClassSpec
from communityhub.delivery import policy, render
from tests.conftest import REPO

FLEET = REPO / "examples" / "fleet"
CONFIG = "hub.config"
GITHUB, CILOGON = f"{CONFIG}.GitHubOAuthenticator", f"{CONFIG}.CILogonOAuthenticator"
#: The provider's staff team, which its hubs' configs list among their organizations: here the class adds it.
STAFF = "2i2c-org:hub-access-for-2i2c-staff"
SHARED_RO = {"name": "home", "mountPath": "/home/jovyan/shared", "subPath": "_shared", "readOnly": True}
NFS = {"type": "static", "static": {"pvcName": "home-nfs", "subPath": "{escaped_username}"}}


def idp(claim: str, **extra: Any) -> dict[str, Any]:
    return {"username_derivation": {"username_claim": claim}, **extra}


def branding(name: str, url: str, logo: str, funder: str, funder_url: str) -> dict[str, Any]:
    return {f"{CONFIG}.JupyterHub.template_vars": {"org": {"name": name, "url": url, "logo_url": logo},
                                                    "funded_by": {"name": funder, "url": funder_url}}}


def profile(slug: str, **override: Any) -> dict[str, Any]:
    return {"slug": slug, "kubespawner_override": override}


#: What each source hub sets. A value that is a dict of a profile is checked on its keys only.
FACTS: dict[str, dict[str, Any]] = {
    "temple.yaml": {
        f"{CONFIG}.JupyterHub.authenticator_class": "cilogon",
        # The source's Google entry (no allow rule: the provider's staff, by allowed_users) is the class's layer.
        f"{CILOGON}.allowed_idps": {"https://fim.temple.edu/idp/shibboleth": idp("eppn", allow_all=True)},
        f"{CONFIG}.Authenticator.admin_users": ["jmsmith1@temple.edu"],
        "singleuser.memory": {"guarantee": "512M", "limit": "2G"},
        "singleuser.storage": {**NFS, "extraVolumeMounts": {"communityhub-shared/home/jovyan/shared": SHARED_RO}},
        **branding("Temple University JupyterHub", "https://www.temple.edu/",
                   "https://www.temple.edu/modules/custom/tu_layout/images/brand/t-cherry.svg", "Temple University",
                   "https://www.temple.edu/"),
    },
    "pythia-binder.yaml": {
        f"{CONFIG}.JupyterHub.authenticator_class": "null",  # nobody logs in: servers come from the Binder page
        "singleuser.storage.type": "none",
        "singleuser.cmd[0]": "python3",  # a launcher that starts jupyter-lab where the image has it
    },
    "mtu.yaml": {
        f"{CILOGON}.allowed_idps": {"https://sso.mtu.edu/idp/shibboleth": idp("email", allowed_domains=["mtu.edu"])},
        f"{CONFIG}.Authenticator.admin_users": ["dbkc@mtu.edu", "lebrown@mtu.edu"],
        "singleuser.image": {"name": "quay.io/2i2c/cloudbank-data8-image", "tag": "6286b77ae45c"},
        "singleuser.storage": {**NFS, "extraVolumeMounts": {"communityhub-shared/home/jovyan/shared": SHARED_RO}},
    },
    "pfw.yaml": {
        # The source lists GitHub for its two named users, not for every GitHub account (issue 29, finding 8).
        f"{CILOGON}.allowed_idps": {"http://github.com/login/oauth/authorize": idp("preferred_username")},
        f"{CONFIG}.Authenticator.allowed_users": ["alessandromariaselvitella", "fosterk86"],
        f"{CONFIG}.Authenticator.admin_users": ["alessandromariaselvitella", "fosterk86"],
        f"{CONFIG}.JupyterHub.template_vars.funded_by": {
            "name": "JROST & IOI", "url": "https://investinopen.org/blog/jrost-rapid-response-fund-awardees"},
    },
    "aup.yaml": {
        "singleuser.image": {"name": "quay.io/2i2c/2i2c-hubs-image", "tag": "14107b8a85fb"},
        "singleuser.memory": {"guarantee": "6G", "limit": "8G"},
        f"{CONFIG}.Authenticator.allowed_users": ["swalker", "shaolintl"],
    },
    "neurohackademy.yaml": {
        "singleuser.image": {"name": "quay.io/arokem/nh-jhub-2022", "tag": "3d441bdb82f6"},
        "singleuser.defaultUrl":
            "/git-pull?repo=https%3A%2F%2Fgithub.com%2Fneurohackademy%2Fnh2022-curriculum&urlpath=lab&branch=main",
        f"{CONFIG}.Authenticator.admin_users": ["arokem"],
        f"{CONFIG}.JupyterHub.template_vars.org.name": "NeuroHackademy",
    },
    "ucmerced.yaml": {
        f"{CILOGON}.allowed_idps": {"urn:mace:incommon:ucmerced.edu": idp("eppn", allow_all=True)},
        "singleuser.profileList": [
            profile("python", image="quay.io/cirt_ucm/jupyter-scipy-xarray:1e26b42ad87b", default_url="/lab",
                    node_selector={"node.kubernetes.io/instance-type": "n2-highmem-8"},
                    mem_guarantee=995622387, mem_limit=1991244775),
            profile("r", image="quay.io/2i2c/rocker-with-nbgitpuller:3edc87d73e3d", default_url="/lab",
                    node_selector={"node.kubernetes.io/instance-type": "n2-highmem-8"})],
    },
    "jackeddy.yaml": {
        f"{GITHUB}.allowed_organizations": ["jack-eddy-symposium", STAFF],
        f"{CONFIG}.Authenticator.admin_users": ["colliand", "dan800"],
        f"{CONFIG}.JupyterHub.allow_named_servers": True,
        "singleuser.image": {"name": "pangeo/pangeo-notebook", "tag": "2022.05.10"},
        "singleuser.defaultUrl": "/lab",
        "singleuser.profileList": [
            profile(slug, mem_guarantee=low, mem_limit=high,
                    node_selector={"node.kubernetes.io/instance-type": machine})
            for slug, low, high, machine in (("small", "4.5G", "7G", "n1-standard-2"),
                                             ("medium", "11G", "15G", "n1-standard-4"),
                                             ("large", "24G", "30G", "n1-standard-8"),
                                             ("huge", "52G", "60G", "n1-standard-16"))],
        "singleuser.storage": {**NFS, "extraVolumeMounts": {"communityhub-shared/home/jovyan/shared": SHARED_RO}},
    },
    "climatematch.yaml": {
        f"{GITHUB}.allowed_organizations": ["ClimateMatchAcademy:2023students", STAFF],
        "singleuser.memory": {"guarantee": "10G", "limit": "16G"},
        "singleuser.image": {"name": "pangeo/pangeo-notebook", "tag": "2023.07.05"},
        "singleuser.storage": {**NFS, "extraVolumeMounts": {
            "communityhub-shared/home/jovyan/shared-public": {"name": "home", "mountPath": "/home/jovyan/shared-public",
                                                  "subPath": "_shared-public", "readOnly": False},
            "communityhub-shared/home/jovyan/shared": SHARED_RO}},
    },
    "ohw.yaml": {
        f"{GITHUB}.allowed_organizations": [f"oceanhackweek:{team}" for team in (
            "ohw23-organizers", "ohw23-participants-australia", "ohw23-participants-seattle",
            "ohw23-participants-virtual", "ohw23-project-mentors", "ohw23-tutorial-presenters")] + [STAFF],
        "singleuser.networkPolicy.egress": [{"ports": [{"port": 8080, "protocol": "TCP"}]},
                                            {"ports": [{"port": 22, "protocol": "TCP"}]}],
        "singleuser.profileList": [
            profile("python", image="ghcr.io/oceanhackweek/python:c3d1f4b", default_url="/lab", mem_limit="8G",
                    mem_guarantee="4G", cpu_limit=2, cpu_guarantee=0.5),
            profile("r", image="ghcr.io/oceanhackweek/r:2b505d5", default_url="/rstudio", mem_limit="8G",
                    mem_guarantee="4G", cpu_limit=2, cpu_guarantee=0.5)],
        f"{CONFIG}.JupyterHub.template_vars.funded_by": {"name": "IOOS", "url": "https://ioos.us/"},
        "singleuser.storage": {**NFS, "extraVolumeMounts": {"communityhub-shared/home/jovyan/shared": SHARED_RO}},
    },
    "nasa-cryo.yaml": {
        f"{GITHUB}.allowed_organizations": ["CryoInTheCloud:cryoclouduser", "CryoInTheCloud:cryocloudadvanced",
                                            "CryoInTheCloud:csdms-2025-workshop"],
        f"{CONFIG}.JupyterHub.allow_named_servers": True,
        "scheduling.userScheduler.enabled": True,
        "singleuser.profileList": [
            profile("cpu", cpu_guarantee=0.912625, cpu_limit=3.6505, mem_guarantee=7805679519,
                    node_selector={"node.kubernetes.io/instance-type": "r5.xlarge"}),
            profile("cpu-large", cpu_guarantee=15.3811, cpu_limit=15.3811, mem_guarantee=128041414033,
                    node_selector={"node.kubernetes.io/instance-type": "r5.4xlarge"}),
            profile("gpu", mem_guarantee="14G", extra_resource_limits={"nvidia.com/gpu": "1"},
                    node_selector={"node.kubernetes.io/instance-type": "g4dn.xlarge"})],
        "singleuser.profileList[0].profile_options.image.choices.cryo-python.kubespawner_override.image":
            "quay.io/cryointhecloud/cryo-hub-image:d624b28e39c4",
        "singleuser.profileList[0].profile_options.image.unlisted_choice.kubespawner_override.image": "{value}",
        "singleuser.profileList[2].profile_options.image.choices.pytorch.kubespawner_override.image":
            "quay.io/pangeo/pytorch-notebook:2025.05.22",
    },
    "openscapes.yaml": {
        f"{GITHUB}.allowed_organizations": [f"NASA-Openscapes:{team}" for team in (
            "workshopaccess-2i2c", "longtermaccess-2i2c", "championsaccess-2i2c")],
        f"{CONFIG}.Authenticator.admin_users": ["amfriesz", "jules32", "erinmr", "betolink"],
        f"{CONFIG}.JupyterHub.allow_named_servers": True,
        "scheduling.userScheduler.enabled": True,
        "singleuser.storage": {**NFS, "extraVolumeMounts": {
            "communityhub-shared/home/jovyan/shared": SHARED_RO,
            "communityhub-shared/home/rstudio/shared": {**SHARED_RO, "mountPath": "/home/rstudio/shared"}}},
    },
    "imagebuilding-demo.yaml": {
        f"{GITHUB}.allowed_organizations": ["2i2c-imagebuilding-hub-access", "veda-analytics-access:all-users",
                                            "veda-analytics-access:collaborator-access", "CYGNSS-VEDA:cygnss-iwg",
                                            STAFF],
        f"{CONFIG}.JupyterHub.allow_named_servers": True,
        "singleuser.storage": {**NFS, "extraVolumeMounts": {"communityhub-shared/home/jovyan/shared": SHARED_RO}},
        "singleuser.profileList": [profile("only-choice", mem_guarantee=2904451072, cpu_guarantee=0.434875,
                                           cpu_limit=3.479,
                                           node_selector={"node.kubernetes.io/instance-type": "n2-highmem-4"})],
        "singleuser.profileList[0].profile_options.image.choices": {
            "rocker-geospatial": {"display_name": "Rocker Geospatial", "default": True,
                                  "kubespawner_override": {"image": "rocker/binder:4.3"}},
            "pangeo-2023-09": {"display_name": "Pangeo Notebook Image",
                               "kubespawner_override": {"image": "pangeo/pangeo-notebook:2023.09.11"}},
            "scipy-2023": {"display_name": "Jupyter SciPy Notebook",
                           "kubespawner_override": {"image": "jupyter/scipy-notebook:2023-06-26"}}},
        "singleuser.profileList[0].profile_options.image.unlisted_choice.enabled": True,
        "singleuser.profileList[0].profile_options.image.dynamic_image_building": {"enabled": True},
    },
    "ephemeral-demo.yaml": {
        f"{CONFIG}.JupyterHub.authenticator_class": "tmp",  # its source: tmpauthenticator.TmpAuthenticator
        "singleuser.storage": {"type": "none"},
        "cull.users": True,
        "prePuller.continuous.enabled": True,
        f"{CONFIG}.JupyterHub.template_vars.org.name": "2i2c Ephemeral Demo",
    },
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def fleet_classes() -> dict[str, HubClassSpec]:
    return {d["metadata"]["name"]: HubClassSpec.model_validate(d["spec"])
            for d in documents(FLEET / "classes.yaml") if d["kind"] == "HubClass"}


def hub_of(name: str) -> CommunityHub:
    return CommunityHub.model_validate(next(d for d in documents(FLEET / name) if d["kind"] == "CommunityHub"))


def at(values: Any, path: str) -> Any:
    """The value at a dotted path; `key[i]` indexes a list."""
    node = values
    for part in path.split("."):
        key, _, index = part.partition("[")
        node = node[key]
        if index:
            node = node[int(index.rstrip("]"))]
    return node


def matches(found: Any, wanted: Any) -> bool:
    """Profiles are checked on the keys the fact names; everything else must be equal."""
    if isinstance(wanted, dict) and wanted.keys() >= {"slug", "kubespawner_override"}:
        return found.get("slug") == wanted["slug"] and all(
            found["kubespawner_override"].get(k) == v for k, v in wanted["kubespawner_override"].items())
    if isinstance(wanted, list) and wanted and isinstance(wanted[0], dict) and "slug" in wanted[0]:
        return len(found) == len(wanted) and all(matches(f, w) for f, w in zip(found, wanted, strict=True))
    if isinstance(wanted, dict) and "extraVolumeMounts" in wanted and isinstance(found, dict):
        # A hub's storage: its own mounts, among the class's (keyed maps merge); the rest equal.
        mounts = found.get("extraVolumeMounts") or {}
        return all(mounts.get(k) == v for k, v in wanted["extraVolumeMounts"].items()) and all(
            found.get(k) == v for k, v in wanted.items() if k != "extraVolumeMounts")
    return bool(found == wanted)


def rendered(name: str) -> dict[str, Any]:
    hub = hub_of(name)
    spec = fleet_classes()[str(hub.spec.hub_class_name)]
    return render.values(str(hub.metadata["namespace"]), str(hub.metadata["name"]), hub.spec,
                         class_values=spec.values, catalog=spec)


def test_the_fleet_has_twelve_hubs_each_with_its_facts() -> None:
    hubs = sorted(p.name for p in FLEET.glob("*.yaml") if p.name != "classes.yaml")
    assert len(hubs) >= 12 and sorted(FACTS) == hubs, hubs
    for name in hubs:
        assert "Modeled on 2i2c-org/infrastructure config/clusters/" in (FLEET / name).read_text()


@pytest.mark.parametrize("name", sorted(FACTS))
def test_each_example_renders_what_its_source_hub_sets(name: str) -> None:
    values = rendered(name)
    wrong = {path: at(values, path) for path, wanted in FACTS[name].items() if not matches(at(values, path), wanted)}
    assert wrong == {}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_each_example_is_within_its_class_and_tier(name: str) -> None:
    hub = hub_of(name)
    verdict = policy.environment(hub.spec, fleet_classes()[str(hub.spec.hub_class_name)])
    assert verdict.status == "Unknown", verdict.message


def test_a_changed_fact_is_caught() -> None:
    """The fact check can fail: the temple hub with another memory limit no longer matches its source."""
    values = rendered("temple.yaml")
    values["singleuser"]["memory"]["limit"] = "4G"
    assert not matches(at(values, "singleuser.memory"), FACTS["temple.yaml"]["singleuser.memory"])


def test_every_examples_user_pods_have_the_volumes_they_mount() -> None:
    """The class's second mount of the shared home (/home/rstudio) on a hub whose home is not the shared one made
    every user pod invalid (the API server: volumeMounts name "home" not found): ohw's servers never started on
    process pods (tests/integration/test_served_fleet.py). Every hub of examples/, imported ones too, on its class."""
    everything = [d for path in sorted((REPO / "examples").rglob("*.yaml")) for d in documents(path)]
    classes = {d["metadata"]["name"]: HubClassSpec.model_validate(d["spec"]) for d in everything
               if d.get("kind") == "HubClass"}
    hubs = [CommunityHub.model_validate(d) for d in everything if d.get("kind") == "CommunityHub"]
    dangling = {}
    for hub in hubs:
        spec = classes.get(str(hub.spec.hub_class_name or "basehub"))
        values = render.values(str(hub.metadata["namespace"]), str(hub.metadata["name"]), hub.spec,
                               class_values=spec.values if spec else None, catalog=spec)
        if found := render.mounts_without_volume(values):
            dangling[hub.metadata["name"]] = found
    assert len(hubs) >= 40 and dangling == {}


def test_a_hub_without_a_shared_home_on_a_class_that_mounts_it_is_refused_before_helm() -> None:
    hub = hub_of("ohw.yaml")
    hub.spec.environment.storage = type(hub.spec.environment.storage)(type="perUserVolume")
    spec = fleet_classes()["gke-shared"]
    values = render.values("oceanhackweek", "ohw", hub.spec, class_values=spec.values, catalog=spec)
    dangling = render.mounts_without_volume(values)
    assert sorted(dangling) == [("/home/rstudio", "home"), ("/home/rstudio/shared", "home")]
    verdict = policy.mount_refusal(dangling, "perUserVolume")
    assert verdict is not None and (verdict.status, verdict.reason) == ("False", "MountWithoutVolume")
    assert policy.mount_refusal([], "perUserVolume") is None
    assert "/home/rstudio (volume 'home')" in verdict.message and "sharedNFS" in verdict.message
