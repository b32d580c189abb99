"""Values rendered from a spec, checked against the keys the JupyterHub chart and oauthenticator read."""

from __future__ import annotations

import asyncio
import copy
import json
from importlib.metadata import entry_points
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import render
from tests.conftest import REPO


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
             "oidc": {"issuer": "https://auth.example.org/realms/hub", "usernameClaim": "preferred_username",
                      "groupsClaim": "roles", "allowedGroups": ["staff"]}},
    # Canvas: OAuth2 without discovery, its endpoints given (2 hubs of the fleet log in so).
    "oauth2": {"provider": "oauth2", "clientSecretRef": {"name": "s"},
               "oauth2": {"authorizeUrl": "https://canvas.example.edu/login/oauth2/auth",
                          "tokenUrl": "https://canvas.example.edu/login/oauth2/token",
                          "userdataUrl": "https://canvas.example.edu/api/v1/users/self",
                          "usernameKey": "login_id", "loginService": "Canvas", "groupsKey": "courses",
                          "allowedGroups": ["geo-101"], "adminGroups": ["geo-101-teachers"]}},
    "google": {"provider": "google", "clientSecretRef": {"name": "s"},
               "google": {"hostedDomains": ["example.edu"]}},
}


ENDPOINTS = {
    "authorization_endpoint": "https://auth.example.org/realms/hub/protocol/openid-connect/auth",
    "token_endpoint": "https://auth.example.org/realms/hub/protocol/openid-connect/token",
    "userinfo_endpoint": "https://auth.example.org/realms/hub/protocol/openid-connect/userinfo",
}


def authenticator_class(short_name: str) -> type:
    """What the chart's ``authenticator_class: <short name>`` resolves to: JupyterHub's entry point."""
    (entry,) = [e for e in entry_points(group="jupyterhub.authenticators") if e.name == short_name]
    return entry.load()


@pytest.mark.parametrize("provider", sorted(AUTHS))
def test_authenticator_config_is_what_oauthenticator_reads(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rendered section, loaded by the real oauthenticator class the chart names: every key is one of its
    config traits, its validators accept the values, the client comes from the env, and someone may log in."""
    values = render.values("hubs", "lab", base_spec(auth=AUTHS[provider]), ENDPOINTS)
    config = values["hub"]["config"]
    short_name, section = render.AUTHENTICATORS[provider]
    assert config["JupyterHub"]["authenticator_class"] == short_name
    assert set(config) == {"JupyterHub", "Authenticator", section}
    cls = authenticator_class(short_name)
    assert cls.__name__ == section
    assert set(config[section]) <= set(cls.class_trait_names(config=True))
    assert set(config["Authenticator"]) <= set(cls.class_trait_names(config=True))

    env = values["hub"]["extraEnv"]
    for key, secret_key in (("OAUTH_CLIENT_ID", "client_id"), ("OAUTH_CLIENT_SECRET", "client_secret")):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": render.OAUTH_SECRET_NAME, "key": secret_key}
        monkeypatch.setenv(key, f"from-secret-{secret_key}")
    # The usage service's token, from the Secret the hub step writes, under the key it writes.
    assert env["CHUB_USAGE_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": render.USAGE_TOKEN_SECRET_NAME, "key": render.USAGE_TOKEN_KEY}
    authenticator = cls(config=Config({section: config[section], "Authenticator": config["Authenticator"]}))
    assert authenticator.client_id == "from-secret-client_id"
    assert authenticator.client_secret == "from-secret-client_secret"
    assert authenticator.oauth_callback_url == "https://climate-lab.hubs.example.org/hub/oauth_callback"
    assert authenticator.admin_users == {"alice"}
    if provider == "github":
        assert authenticator.allowed_organizations == {"org:t1", "org:t2"}
        assert "read:org" in authenticator.scope
    elif provider == "cilogon":
        idps = authenticator.allowed_idps
        assert idps == {"urn:mace:incommon:example.edu": {
            "username_derivation": {"username_claim": "email"}, "allowed_domains": ["example.edu"]}}
    elif provider == "oauth2":
        assert authenticator.authorize_url == "https://canvas.example.edu/login/oauth2/auth"
        assert authenticator.token_url == "https://canvas.example.edu/login/oauth2/token"
        assert authenticator.userdata_url == "https://canvas.example.edu/api/v1/users/self"
        assert authenticator.username_claim == "login_id" and authenticator.login_service == "Canvas"
        assert authenticator.manage_groups and authenticator.auth_state_groups_key == "oauth_user.courses"
        assert authenticator.allowed_groups == {"geo-101"} and authenticator.admin_groups == {"geo-101-teachers"}
    elif provider == "google":
        assert authenticator.hosted_domain == ["example.edu"] and authenticator.allow_all
    else:
        assert authenticator.authorize_url == ENDPOINTS["authorization_endpoint"]
        assert authenticator.token_url == ENDPOINTS["token_endpoint"]
        assert authenticator.userdata_url == ENDPOINTS["userinfo_endpoint"]
        assert authenticator.username_claim == "preferred_username"
        assert authenticator.allowed_groups == {"staff"}
        assert authenticator.auth_state_groups_key == "oauth_user.roles"
    # oauthenticator >= 16 lets nobody in without an allow rule: every provider must render one.
    assert _lets_someone_in(authenticator, provider)


def _lets_someone_in(authenticator: object, provider: str) -> bool:
    if provider == "github":
        return bool(authenticator.allowed_organizations)  # type: ignore[attr-defined]
    if provider == "cilogon":
        return all(i.get("allow_all") or i.get("allowed_domains")
                   for i in authenticator.allowed_idps.values())  # type: ignore[attr-defined]
    return bool(authenticator.allow_all or authenticator.allowed_groups)  # type: ignore[attr-defined]


GITHUB_IDP = "http://github.com/login/oauth/authorize"


def _cilogon(idp: dict[str, Any], allowed_users: list[str] | None = None) -> Any:
    auth = {"provider": "cilogon", "clientSecretRef": {"name": "s"}, "allowedUsers": allowed_users or [],
            "cilogon": {"allowedIdps": [{"entityId": GITHUB_IDP, "usernameClaim": "preferred_username", **idp}]}}
    values = render.values("hubs", "lab", base_spec(auth=auth))["hub"]["config"]
    return authenticator_class("cilogon")(config=Config({"CILogonOAuthenticator": values["CILogonOAuthenticator"],
                                                        "Authenticator": values["Authenticator"]}))


def _lets_in(authenticator: Any, username: str) -> bool:
    model = {"name": username, "admin": False,
             "auth_state": {"cilogon_user": {"idp": GITHUB_IDP, "preferred_username": username}}}
    return bool(asyncio.run(authenticator.check_allowed(username, model)))


def test_a_cilogon_idp_without_domains_lets_in_only_the_users_the_hub_names() -> None:
    """Listing GitHub through CILogon so two named users can log in used to render allow_all for it: every GitHub
    account got in (finding 8 of issue 29). Checked with oauthenticator's own check_allowed."""
    authenticator = _cilogon({}, allowed_users=["swalker"])
    assert "allow_all" not in authenticator.allowed_idps[GITHUB_IDP]
    assert _lets_in(authenticator, "swalker")
    assert not _lets_in(authenticator, "anyone-else")


def test_a_cilogon_idp_lets_everyone_in_only_when_it_says_allow_all() -> None:
    authenticator = _cilogon({"allowAll": True})
    assert authenticator.allowed_idps[GITHUB_IDP]["allow_all"] is True
    assert _lets_in(authenticator, "anyone-else")


def test_oidc_without_groups_or_users_lets_the_issuers_users_in_and_needs_discovery() -> None:
    auth = {"provider": "oidc", "clientSecretRef": {"name": "s"}, "oidc": {"issuer": "https://id.example.org"}}
    config = render.values("hubs", "lab", base_spec(auth=auth), ENDPOINTS)["hub"]["config"]["GenericOAuthenticator"]
    assert config["allow_all"] is True and "allowed_groups" not in config
    named = {**auth, "allowedUsers": ["carol"]}
    config = render.values("hubs", "lab", base_spec(auth=named), ENDPOINTS)["hub"]["config"]["GenericOAuthenticator"]
    assert "allow_all" not in config
    with pytest.raises(ValueError, match="not been discovered"):
        render.values("hubs", "lab", base_spec(auth=auth))


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
    assert singleuser["storage"] == {"type": "dynamic", "capacity": "20Gi"}
    small, gpu = singleuser["profileList"]
    assert small["slug"] == "small" and small["default"] is True
    assert small["kubespawner_override"] == {"cpu_guarantee": 0.5, "cpu_limit": 0.5, "mem_guarantee": "2G",
                                             "mem_limit": "2G"}  # JupyterHub reads G as GiB
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
    assert values["ingress"]["tls"][0]["secretName"] == "lab-560c36d27a60-tls"  # the release's name, with its digest
    assert values["ingress"]["annotations"] == {"a": "b"}
    assert values["hub"]["config"]["JupyterHub"] == {"authenticator_class": "github", "concurrent_spawn_limit": 5}


def test_values_hash_is_stable_and_sensitive() -> None:
    spec = base_spec()
    a = render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", spec))
    b = render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", base_spec()))
    assert a == b
    assert a != render.values_hash("jupyterhub", "4.1.1", render.values("hubs", "lab", spec))
    other = base_spec(hub={"domain": "lab.example.org", "adminUsers": ["bob"]})
    assert a != render.values_hash("jupyterhub", "4.1.0", render.values("hubs", "lab", other))


def test_split_image() -> None:
    assert render.split_image("quay.io/a/b:1.2") == ("quay.io/a/b", "1.2")
    assert render.split_image("localhost:5000/a") == ("localhost:5000/a", "latest")
    assert render.split_image("a/b:1@sha256:" + "f" * 64) == ("a/b@sha256:" + "f" * 64, "1")


def test_label_value() -> None:
    assert render.label_value("Climate Lab, Example University") == "Climate-Lab-Example-University"
    assert len(render.label_value("x" * 100)) == 63
    assert render.label_value("!!!") == "unnamed"


def test_values_text_keeps_astral_characters_as_text() -> None:
    """helm reads the values file; an escaped emoji (libyaml's dumper writes \\U0001F30A) is not what it shows."""
    from communityhub.adapters.helm import values_yaml
    text = values_yaml({"display_name": "🌊 Ocean 𠀋"})
    assert "🌊 Ocean 𠀋" in text and "\\U" not in text


@pytest.mark.parametrize("text", ["a\x7fb", "x\x81y", "\x85nel", "line\u2028sep", "\ufffe", "ok <b> & 'q'", "🌊"])
def test_text_yaml_does_not_carry_as_is_reaches_the_values_unchanged(text: str) -> None:
    """Found by the fuzz tests: DEL or a C1 control in a tenant's text made the rendered values unreadable
    (every pass failed), and NEL became a space."""
    spec = base_spec(hub={"domain": "x.example.org", "adminUsers": [text]},
                     auth={**AUTHS["github"], "github": {"organization": text, "teams": [text]}})
    values = render.values("ns", "n", spec, None, "op", "r")
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == [text]
    assert values["hub"]["config"]["GitHubOAuthenticator"]["allowed_organizations"] == [f"{text}:{text}"]


SHARED = {"provider": "sharedPassword", "sharedPassword": {"secretRef": {"name": "workshop-passwords"}}}


def shared_password_authenticator(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch, user: str,
                                  admin: str | None) -> Any:
    """JupyterHub's own SharedPasswordAuthenticator, configured as the chart's hub would be: the rendered sections,
    then the rendered extraConfig run with the Secret's keys in the environment the rendered extraEnv names."""
    env = values["hub"]["extraEnv"]
    for name, key, value in (("CHUB_USER_PASSWORD", "userPassword", user),
                             ("CHUB_ADMIN_PASSWORD", "adminPassword", admin)):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == render.SHARED_PASSWORD_SECRET_NAME
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == key
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    config = values["hub"]["config"]
    namespace: dict[str, Any] = {"c": Config({k: v for k, v in config.items() if k != "JupyterHub"})}
    exec(values["hub"]["extraConfig"]["communityhub-shared-password"], namespace)
    return authenticator_class(config["JupyterHub"]["authenticator_class"])(config=namespace["c"])


def test_a_shared_password_lets_attendees_in_by_any_name_and_admins_only_with_theirs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The workshop's password logs anyone in under the name they choose, never as an admin; an admin logs in
    with the admin password only; nothing of either is in the values helm stores."""
    values = render.values("hubs", "lab", base_spec(auth=SHARED))
    user_password, admin_password = "attendee-pass", "a" * 16 + "-admin-password-of-32"
    assert user_password not in json.dumps(values) and admin_password not in json.dumps(values)
    authenticator = shared_password_authenticator(values, monkeypatch, user_password, admin_password)
    assert type(authenticator).__name__ == "SharedPasswordAuthenticator"

    def log_in(name: str, password: str) -> dict[str, Any] | None:
        return asyncio.run(authenticator.get_authenticated_user(None, {"username": name, "password": password}))

    attendee = log_in("new-attendee", user_password)
    assert attendee is not None and attendee["name"] == "new-attendee" and not attendee.get("admin")
    assert log_in("new-attendee", "wrong-password") is None
    assert log_in("alice", user_password) is None, "an admin's name needs the admin password"
    admin = log_in("alice", admin_password)
    assert admin is not None and admin["admin"] is True
    assert authenticator.manage_groups is False, "groups stay the admins' to manage"


def test_without_an_admin_password_no_admin_gets_in_and_named_users_close_the_door(
        monkeypatch: pytest.MonkeyPatch) -> None:
    values = render.values("hubs", "lab", base_spec(auth={**SHARED, "allowedUsers": ["ada"]}))
    authenticator = shared_password_authenticator(values, monkeypatch, "attendee-pass", None)
    assert authenticator.admin_password is None
    assert asyncio.run(authenticator.get_authenticated_user(None, {"username": "ada", "password": "attendee-pass"}))
    assert asyncio.run(authenticator.get_authenticated_user(
        None, {"username": "eve", "password": "attendee-pass"})) is None, "allowedUsers: only those names"


@pytest.mark.parametrize(("user", "admin", "refused"), [
    (None, None, "no key userPassword"),
    (b"short", None, "userPassword must be 8"),
    (b"long-enough", b"too-short-for-admins", "adminPassword must be 32"),
    (b"x" * 40, b"x" * 40, "not be the same"),
    (b"long-enough", None, None),
    (b"long-enough", b"y" * 32, None),
])
def test_shared_passwords_jupyterhub_would_refuse_are_refused_before_the_hub_starts(
        user: bytes | None, admin: bytes | None, refused: str | None) -> None:
    from communityhub.delivery import identity

    reason = identity.shared_password_refusal(user, admin)
    assert (reason is None) == (refused is None)
    if user is not None:  # JupyterHub's own validators agree (without a user password it starts, letting nobody in)
        passwords = {"user_password": user.decode(), "admin_password": admin.decode() if admin else None}
        try:
            authenticator_class("shared-password")(config=Config({"SharedPasswordAuthenticator": passwords}))
            jupyterhub_refuses = False
        except Exception:  # traitlets raises the validator's ValueError as TraitError or itself
            jupyterhub_refuses = True
        assert jupyterhub_refuses == (refused is not None)
    if refused:
        assert refused in str(reason)
        for secret in (user, admin):
            assert not secret or secret.decode() not in str(reason)


@pytest.mark.parametrize("text", [
    "For more information, see our\n<a href=\"https://example.org/book\">\n  Jupyter-book\n</a>",
    "<p>Researchers: fill in this <a href=\"https://forms.example.org/access\">form</a>.</p><br>",
    # a real hub's link with no URL in it: a path of the hub, which goes nowhere else
    '<a href="For more information about using this resource, see our Jupyter-book">Jupyter-book</a>',
    "<strong>Bold</strong>, <em>meant</em> & plain",
])
def test_a_learn_more_paragraph_of_text_links_and_inline_tags_is_accepted(text: str) -> None:
    branding = {"orgName": "Lab", "learnMore": text}
    spec = base_spec(hub={**base_spec().hub.model_dump(by_alias=True, exclude_none=True), "branding": branding})
    assert render.branding_vars(spec)["learn_more"] == text


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript&#58;alert(1)">x</a>',
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    '<img src="https://example.org/x.png" onerror="alert(1)">',
    '<a href="data:text/html,<b>x</b>">x</a>',
    "<p style=\"color:red\">x</p>",
])
def test_markup_that_could_run_or_load_anything_is_refused(text: str) -> None:
    from pydantic import ValidationError

    hub = base_spec().hub.model_dump(by_alias=True, exclude_none=True)
    with pytest.raises(ValidationError, match=r"learnMore|learn_more"):
        base_spec(hub={**hub, "branding": {"learnMore": text}})


def test_a_hub_shows_the_home_page_its_class_offers_and_is_refused_another() -> None:
    from communityhub.api.models import HubClassSpec
    from communityhub.delivery import policy

    hub_class = HubClassSpec.model_validate({"sharedStorage": {"storageClassName": "rwx"}, "homePages": {
        "valuesPath": "custom.homepage.gitRepoBranch", "offered": ["master", "showcase"]}})
    hub = base_spec().hub.model_dump(by_alias=True, exclude_none=True)
    spec = base_spec(hub={**hub, "branding": {"homePage": "showcase"}})
    values = render.values("hubs", "lab", spec, class_values={"custom": {"homepage": {"gitRepoBranch": "master"}}},
                           catalog=hub_class)
    assert values["custom"]["homepage"]["gitRepoBranch"] == "showcase"
    assert policy.class_choice_refusal(spec, hub_class, "c") is None
    other = base_spec(hub={**hub, "branding": {"homePage": "someone-elses"}})
    refused = policy.class_choice_refusal(other, hub_class, "c")
    assert refused is not None and refused.reason == "HomePageNotOffered" and "master, showcase" in refused.message
    assert render.values("hubs", "lab", other, class_values={"custom": {"homepage": {"gitRepoBranch": "master"}}},
                         catalog=hub_class)["custom"]["homepage"]["gitRepoBranch"] == "master"
