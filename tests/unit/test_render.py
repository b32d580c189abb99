"""Values rendered from a spec, checked against the keys the JupyterHub chart and oauthenticator read."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from communityhub import render
from communityhub.api.models import CommunityHubSpec
from tests.conftest import REPO, TEST_CHART


def base_spec(**overrides: object) -> CommunityHubSpec:
    doc = list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]["spec"]
    doc = copy.deepcopy(doc)
    doc.update(overrides)
    return CommunityHubSpec.model_validate(doc)


AUTHS = {
    "github": {"provider": "github", "github": {"organization": "org", "teams": ["t1", "t2"]},
               "clientSecretRef": {"name": "s"}},
    "cilogon": {"provider": "cilogon", "clientSecretRef": {"name": "s"}, "cilogon": {"allowedIdps": [
        {"entityId": "urn:mace:incommon:example.edu", "usernameClaim": "email", "allowedDomains": ["example.edu"]}]}},
    "oidc": {"provider": "oidc", "clientSecretRef": {"name": "s"},
             "oidc": {"issuer": "https://auth.example.org/realms/hub", "usernameClaim": "preferred_username"}},
}


@pytest.mark.parametrize("provider", sorted(AUTHS))
def test_authenticator_keys_per_provider(provider: str) -> None:
    values = render.values("hubs", "lab", base_spec(auth=AUTHS[provider]))
    config = values["hub"]["config"]
    class_name, section = render.AUTHENTICATORS[provider]
    assert config["JupyterHub"]["authenticator_class"] == class_name
    assert set(config) == {"JupyterHub", "Authenticator", section}
    auth = config[section]
    if provider == "github":
        assert auth == {"allowed_organizations": ["org:t1", "org:t2"], "scope": ["read:org"]}
    elif provider == "cilogon":
        assert auth["allowed_idps"] == {"urn:mace:incommon:example.edu": {
            "username_derivation": {"username_claim": "email"}, "allowed_domains": ["example.edu"]}}
    else:
        assert auth["authorize_url"].startswith("https://auth.example.org/realms/hub/")
        assert auth["username_claim"] == "preferred_username"
    assert config["Authenticator"]["admin_users"] == ["alice"]
    env = values["hub"]["extraEnv"]
    assert env["OAUTH_CALLBACK_URL"] == "https://climate-lab.hubs.example.org/hub/oauth_callback"
    for key, secret_key in (("OAUTH_CLIENT_ID", "client_id"), ("OAUTH_CLIENT_SECRET", "client_secret")):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": render.OAUTH_SECRET_NAME, "key": secret_key}


def test_github_org_without_teams_lets_in_the_whole_organization() -> None:
    auth = {"provider": "github", "github": {"organization": "org"}, "clientSecretRef": {"name": "s"}}
    config = render.values("hubs", "lab", base_spec(auth=auth))["hub"]["config"]["GitHubOAuthenticator"]
    assert config["allowed_organizations"] == ["org"]


def test_environment_becomes_singleuser_and_profile_list() -> None:
    env = {"image": "quay.io/example/nb:2026.11", "defaultUrl": "/tree", "homeStorage": "20Gi",
           "profiles": [{"name": "small", "cpu": 0.5, "memory": "2Gi", "default": True},
                        {"name": "gpu", "cpu": 4, "memory": "16Gi", "gpu": 1, "image": "quay.io/example/gpu:1"}]}
    singleuser = render.values("hubs", "lab", base_spec(environment=env))["singleuser"]
    assert singleuser["image"] == {"name": "quay.io/example/nb", "tag": "2026.11"}
    assert singleuser["defaultUrl"] == "/tree"
    assert singleuser["storage"] == {"capacity": "20Gi"}
    small, gpu = singleuser["profileList"]
    assert small["slug"] == "small" and small["default"] is True
    assert small["kubespawner_override"] == {"cpu_guarantee": 0.5, "cpu_limit": 0.5, "mem_guarantee": "2Gi",
                                             "mem_limit": "2Gi"}
    assert gpu["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert gpu["kubespawner_override"]["image"] == "quay.io/example/gpu:1"
    assert "default" not in gpu


def test_no_profiles_renders_no_profile_list() -> None:
    values = render.values("hubs", "lab", base_spec(environment={"image": "quay.io/x/y:1"}))
    assert "profileList" not in values["singleuser"]


def test_ingress_and_user_values_merged_last() -> None:
    hub = {"domain": "lab.example.org", "values": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 5}}},
                                                   "ingress": {"annotations": {"a": "b"}}}}
    values = render.values("hubs", "lab", base_spec(hub=hub))
    assert values["ingress"]["hosts"] == ["lab.example.org"]
    assert values["ingress"]["tls"][0]["secretName"] == "lab-tls"
    assert values["ingress"]["annotations"] == {"a": "b"}
    assert values["hub"]["config"]["JupyterHub"] == {"authenticator_class": "github", "concurrent_spawn_limit": 5}


def test_rendered_values_fit_the_test_charts_schema() -> None:
    """The test chart's schema mirrors the upstream chart's for the keys we render (additionalProperties
    false where upstream has it): every provider's values must fit it."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency")
    schema = json.loads((TEST_CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((TEST_CHART / "values.yaml").read_text())
    for auth in AUTHS.values():
        values = render.deep_merge(defaults, render.values("hubs", "lab", base_spec(auth=auth)))
        jsonschema.validate(values, schema)


def test_values_hash_is_stable_and_sensitive() -> None:
    spec = base_spec()
    a = render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", spec))
    b = render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", base_spec()))
    assert a == b
    assert a != render.values_hash("jupyterhub", "4.1.1", render.values("hubs", "lab", spec))
    other = base_spec(hub={"domain": "lab.example.org", "adminUsers": ["bob"]})
    assert a != render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", other))


@pytest.mark.parametrize(("namespace", "name"), [("hubs", "lab"), ("a" * 60, "b" * 60), ("x", "y-" * 30)])
def test_hub_namespace_is_a_valid_unique_dns_label(namespace: str, name: str) -> None:
    result = render.hub_namespace(namespace, name)
    assert len(result) <= 63 and result[0].isalnum() and result[-1].isalnum()
    assert result != render.hub_namespace(namespace, name + "z")


def test_split_image() -> None:
    assert render.split_image("quay.io/a/b:1.2") == ("quay.io/a/b", "1.2")
    assert render.split_image("localhost:5000/a") == ("localhost:5000/a", "latest")
    assert render.split_image("a/b:1@sha256:" + "f" * 64) == ("a/b@sha256:" + "f" * 64, "1")


def test_label_value() -> None:
    assert render.label_value("Climate Lab, Example University") == "Climate-Lab-Example-University"
    assert len(render.label_value("x" * 100)) == 63
    assert render.label_value("!!!") == "unnamed"
