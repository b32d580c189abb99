"""The identities real hubs log in with (issue 21, identity): several GitHub organizations, admin teams and the
provider's staff team from the class, teams as the hub's groups; each checked against the real oauthenticator
class the chart names (its traits, its group and admin logic)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import yaml
from traitlets.config import Config

from communityhub.api.models import HubClassSpec
from communityhub.delivery import identity, policy, render
from localcluster import charts
from tests.unit.test_real_chart import chart_file
from tests.unit.test_render import authenticator_class, base_spec

SEVERAL = {"provider": "github", "clientSecretRef": {"name": "s"}, "github": {
    "organizations": [{"name": "pangeo-data", "teams": ["ocean", "climate"]}, {"name": "earthcube"}],
    "adminTeams": ["pangeo-data:hub-admins"]}}
STAFF = HubClassSpec.model_validate({"githubStaffTeams": ["2i2c-org:hub-access-for-2i2c-staff"]})


def github(values: dict[str, Any]) -> Any:
    config = values["hub"]["config"]
    cls = authenticator_class("github")
    authenticator = cls(config=Config({"GitHubOAuthenticator": config["GitHubOAuthenticator"]}))
    namespace: dict[str, Any] = {"c": Config()}
    exec(values["hub"]["extraConfig"].get("communityhub-github-teams", ""), namespace)  # as the hub runs it
    if "auth_state_groups_key" in namespace["c"].GitHubOAuthenticator:
        authenticator.auth_state_groups_key = namespace["c"].GitHubOAuthenticator.auth_state_groups_key
    return authenticator


def teams(*names: str) -> dict[str, Any]:
    """An auth state as oauthenticator keeps it: GitHub's /user/teams answer."""
    return {"teams": [{"organization": {"login": n.split(":")[0]}, "slug": n.split(":")[1]} for n in names]}


def test_several_organizations_admin_teams_and_the_classs_staff_team() -> None:
    values = render.values("hubs", "lab", base_spec(auth=SEVERAL), catalog=STAFF)
    authenticator = github(values)
    assert authenticator.allowed_organizations == {
        "pangeo-data:ocean", "pangeo-data:climate", "earthcube", "2i2c-org:hub-access-for-2i2c-staff"}
    assert authenticator.admin_groups == {"pangeo-data:hub-admins", "2i2c-org:hub-access-for-2i2c-staff"}
    assert authenticator.manage_groups and authenticator.populate_teams_in_auth_state
    # The teams a user is in become their groups, named as the admin teams and allowed_organizations name them.
    groups = asyncio.run(authenticator.get_user_groups(teams("pangeo-data:hub-admins", "earthcube:ocean")))
    assert groups == {"pangeo-data:hub-admins", "earthcube:ocean"}
    # oauthenticator's own managed-groups step, which runs after the teams are fetched at login: groups and admin.
    model = {"name": "alice", "admin": None, "auth_state": teams("pangeo-data:hub-admins", "earthcube:ocean")}
    decided = asyncio.run(authenticator._apply_managed_groups(model))
    assert decided["admin"] is True and decided["groups"] == ["earthcube:ocean", "pangeo-data:hub-admins"]
    model = {"name": "bob", "admin": None, "auth_state": teams("pangeo-data:ocean")}
    assert asyncio.run(authenticator._apply_managed_groups(model))["admin"] is False
    who = identity.who_gets_in(base_spec(auth=SEVERAL))
    assert "organization pangeo-data (teams ocean, climate); organization earthcube" in who
    assert "admins: teams pangeo-data:hub-admins" in who


def test_the_staff_team_comes_from_the_class_not_from_each_tenant() -> None:
    plain = {"provider": "github", "clientSecretRef": {"name": "s"}, "github": {"organization": "climate-lab"}}
    without = render.values("hubs", "lab", base_spec(auth=plain))["hub"]["config"]["GitHubOAuthenticator"]
    assert without == {"allowed_organizations": ["climate-lab"], "scope": ["read:org"],
                       "oauth_callback_url": without["oauth_callback_url"]}
    with_class = render.values("hubs", "lab", base_spec(auth=plain), catalog=STAFF)
    authenticator = github(with_class)
    assert authenticator.allowed_organizations == {"climate-lab", "2i2c-org:hub-access-for-2i2c-staff"}
    assert authenticator.admin_groups == {"2i2c-org:hub-access-for-2i2c-staff"}


def test_teams_become_groups_when_a_profile_is_for_some_groups_only() -> None:
    spec = base_spec(auth={"provider": "github", "clientSecretRef": {"name": "s"},
                           "github": {"organization": "climate-lab", "teams": ["gpu-users", "students"]}},
                     environment={**base_spec().environment.model_dump(by_alias=True, exclude_none=True),
                                  "profiles": [{"name": "cpu", "memory": "4Gi", "default": True},
                                               {"name": "gpu", "memory": "16Gi",
                                                "allowedGroups": ["climate-lab:gpu-users"]}]})
    values = render.values("hubs", "lab", spec)
    authenticator = github(values)
    assert authenticator.manage_groups
    assert asyncio.run(authenticator.get_user_groups(teams("climate-lab:gpu-users"))) == {"climate-lab:gpu-users"}
    assert "communityhub-profile-groups" in values["hub"]["extraConfig"]


def test_both_forms_of_github_organizations_are_refused_and_neither_is_staff_and_named_users() -> None:
    """pydantic admits both forms (the CRD's CEL rule refuses them at apply: organizations wins where CEL did not);
    neither is a hub of no organization of its own (2i2c-aws-us staging): the class's staff teams and the users
    the hub names, and nobody else GitHub authenticates."""
    both = base_spec(auth={"provider": "github", "clientSecretRef": {"name": "s"},
                           "github": {"organization": "a", "organizations": [{"name": "b"}]}})
    assert both.auth.github.allowed() == [("b", [])]  # type: ignore[union-attr]
    spec = base_spec(auth={"provider": "github", "clientSecretRef": {"name": "s"}, "github": {}})
    authenticator = github(render.values("hubs", "lab", spec, catalog=STAFF))
    assert authenticator.allowed_organizations == {"2i2c-org:hub-access-for-2i2c-staff"}
    assert not authenticator.allow_all
    alone = github(render.values("hubs", "lab", spec))
    assert alone.allowed_organizations == set() and not alone.allow_all
    stranger = {"name": "stranger", "admin": False, "auth_state": {"github_user": {"login": "stranger"}}}
    assert asyncio.run(alone.check_allowed("stranger", stranger)) is False


def test_the_staff_of_the_kind_a_hub_names_are_its_admins_and_an_unlisted_kind_is_refused() -> None:
    """hub.staffAdmins: the class's staffUsers of that kind, before the hub's own admins; a kind the class does
    not list is refused with a reason (the hub step's policy), not rendered as nobody."""
    staff = HubClassSpec.model_validate({"staffUsers": {"github": ["ada", "grace"], "google": ["ada@example.org"]}})
    spec = base_spec(hub={**base_spec().hub.model_dump(by_alias=True, exclude_none=True), "staffAdmins": "github",
                          "adminUsers": ["lin", "grace"]})
    values = render.values("hubs", "lab", spec, catalog=staff)
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == ["ada", "grace", "lin"]
    assert policy.staff_refusal(spec, staff, "c") is None
    plain = base_spec(hub={**spec.hub.model_dump(by_alias=True, exclude_none=True), "staffAdmins": None})
    assert render.values("hubs", "lab", plain, catalog=staff)["hub"]["config"]["Authenticator"][
        "admin_users"] == ["lin", "grace"]
    other = base_spec(hub={**spec.hub.model_dump(by_alias=True, exclude_none=True), "staffAdmins": "cilogon"})
    refused = policy.staff_refusal(other, staff, "c")
    assert refused is not None and refused.reason == "StaffNotInClass" and "github, google" in refused.message
    assert policy.staff_refusal(other, None, None) is not None


def test_keep_tokens_keeps_auth_state_and_refreshes_it_before_a_spawn() -> None:
    """auth.keepTokens (disasters' enable_auth_state): the authenticator keeps the tokens and, as oauthenticator
    does with auth state, refreshes them before each spawn; no token reaches the server."""
    auth = {"provider": "oauth2", "clientSecretRef": {"name": "s"}, "keepTokens": True, "oauth2": {
        "authorizeUrl": "https://idp.example.org/auth", "tokenUrl": "https://idp.example.org/token",
        "userdataFromIdToken": True}}
    values = render.values("hubs", "lab", base_spec(auth=auth))
    config = values["hub"]["config"]
    authenticator = authenticator_class("generic-oauth")(config=Config({
        "Authenticator": config["Authenticator"], "GenericOAuthenticator": config["GenericOAuthenticator"]}))
    assert authenticator.enable_auth_state and authenticator.refresh_pre_spawn
    assert "communityhub-pass-tokens" not in values["hub"].get("extraConfig", {})
    plain = render.values("hubs", "lab", base_spec(auth={**auth, "keepTokens": False}))
    assert plain["hub"]["config"]["Authenticator"]["enable_auth_state"] is False


def test_the_crd_carries_the_rules_the_api_server_enforces() -> None:
    from communityhub.api import crd

    schema = crd.FILES["communityhub.yaml"]()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    auth = schema["properties"]["spec"]["properties"]["auth"]
    github_rules = [r["message"] for r in auth["properties"]["github"]["x-kubernetes-validations"]]
    assert "set organization (with teams) or organizations, not both" in github_rules
    oauth2_rules = [r["message"] for r in auth["properties"]["oauth2"]["x-kubernetes-validations"]]
    assert "allowedGroups and adminGroups need groupsKey" in oauth2_rules
    assert set(auth["properties"]["provider"]["enum"]) == {"github", "cilogon", "oidc", "oauth2", "google",
                                                           "temporary", "sharedPassword", "none"}
    auth_rules = [r["message"] for r in auth["x-kubernetes-validations"]]
    assert "clientSecretRef is required for a login provider" in auth_rules
    assert "temporary users have no identity provider, so no token to pass" in auth_rules
    assert "temporary users have no identity provider, so no token to keep" in auth_rules
    assert "a hub with no login has no identity provider, so no token to pass" in auth_rules


# ------------------------------------------------------------------ temporary users (workshops, binders)
WORKSHOP = {"provider": "temporary", "temporary": {"maxConcurrentUsers": 40}}


def workshop(**overrides: Any) -> Any:
    environment = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True),
                   "storage": {"type": "none"}}
    return base_spec(auth=WORKSHOP, environment=environment, **overrides)


def test_temporary_users_render_tmpauthenticator_with_a_cap_no_tenant_value_can_raise() -> None:
    spec = workshop(hub={**base_spec().hub.model_dump(by_alias=True, exclude_none=True),
                         "values": {"hub": {"config": {"JupyterHub": {"active_server_limit": 500}}}}})
    values = render.values("hubs", "lab", spec)
    config = values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "tmp"
    assert config["JupyterHub"]["active_server_limit"] == 40, "the tenant's 500 does not lift the spec's cap"
    cls = authenticator_class("tmp")
    assert cls.__name__ == "TmpAuthenticator"
    assert set(config["TmpAuthenticator"]) <= set(cls.class_trait_names(config=True))
    cls(config=Config({"TmpAuthenticator": config["TmpAuthenticator"], "Authenticator": config["Authenticator"]}))
    assert "OAUTH_CLIENT_ID" not in values["hub"]["extraEnv"], "no OAuth client: none is read"
    lower = render.values("hubs", "lab", workshop(hub={**base_spec().hub.model_dump(by_alias=True, exclude_none=True),
                                                       "values": {"hub": {"config": {"JupyterHub": {
                                                           "active_server_limit": 10}}}}}))
    assert lower["hub"]["config"]["JupyterHub"]["active_server_limit"] == 10, "a lower limit stays"
    assert "temporary user (at most 40 servers at once)" in identity.who_gets_in(spec)


def test_temporary_users_are_refused_where_their_files_would_outlive_them() -> None:
    open_with_homes = base_spec(auth=WORKSHOP)  # perUserVolume homes, no window
    refusal = identity.temporary_refusal(open_with_homes)
    assert refusal is not None and "environment.storage.type: none, or a lifecycle.window" in refusal
    assert identity.temporary_refusal(workshop()) is None
    windowed = base_spec(auth=WORKSHOP, lifecycle={"window": {"start": "2026-12-01T09:00:00Z",
                                                              "end": "2026-12-05T17:00:00Z"}})
    assert identity.temporary_refusal(windowed) is None
    assert identity.temporary_refusal(base_spec()) is None  # a login provider: nothing to refuse


# ------------------------------------------------------------------ passTokens (auth_state)
def test_pass_tokens_encrypts_auth_state_and_hands_the_token_to_the_server() -> None:
    auth = {**SEVERAL, "passTokens": True}
    values = render.values("hubs", "lab", base_spec(auth=auth))
    assert values["hub"]["config"]["Authenticator"]["enable_auth_state"] is True
    # The chart generates the encryption key (CryptKeeper.keys) into its hub Secret: nothing of it in the values.
    assert "CryptKeeper" not in values["hub"]["config"] and "JUPYTERHUB_CRYPT_KEY" not in values["hub"]["extraEnv"]
    namespace: dict[str, Any] = {"c": Config()}
    exec(values["hub"]["extraConfig"]["communityhub-pass-tokens"], namespace)
    hook = namespace["c"].Spawner.auth_state_hook

    class Spawner:
        environment: dict[str, str]

    spawner = Spawner()
    spawner.environment = {}
    hook(spawner, {"access_token": "gho_example", "github_user": {}})
    assert spawner.environment == {"ACCESS_TOKEN": "gho_example", "GITHUB_TOKEN": "gho_example"}
    empty = Spawner()  # a user without auth state gets nothing
    empty.environment = {}
    hook(empty, None)
    assert empty.environment == {}
    plain = render.values("hubs", "lab", base_spec())
    assert plain["hub"]["config"]["Authenticator"]["enable_auth_state"] is False
    assert "communityhub-pass-tokens" not in plain["hub"]["extraConfig"]


def test_the_new_providers_fit_the_real_charts_schema() -> None:
    hub_chart = charts.jupyterhub_chart()
    schema = json.loads(chart_file(hub_chart, "values.schema.json"))
    defaults = yaml.safe_load(chart_file(hub_chart, "values.yaml"))
    for spec in (workshop(), base_spec(auth={**SEVERAL, "passTokens": True})):
        values = render.deep_merge(defaults, render.values("hubs", "lab", spec, catalog=STAFF))
        assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)] == []



def test_cilogon_groups_become_the_hubs_where_admins_or_profiles_read_them() -> None:
    auth = {"provider": "cilogon", "clientSecretRef": {"name": "s"}, "cilogon": {
        "allowedIdps": [{"entityId": "urn:mace:incommon:ucsd.edu", "usernameClaim": "eppn"}],
        "adminGroups": ["ucsd-hub-admins"]}}
    config = render.values("hubs", "lab", base_spec(auth=auth))["hub"]["config"]["CILogonOAuthenticator"]
    authenticator = authenticator_class("cilogon")(config=Config({"CILogonOAuthenticator": config}))
    assert authenticator.manage_groups and authenticator.admin_groups == {"ucsd-hub-admins"}
    state = {"cilogon_user": {"isMemberOf": ["ucsd-hub-admins", "ucsd-students"]}}
    assert asyncio.run(authenticator.get_user_groups(state)) == {"ucsd-hub-admins", "ucsd-students"}
    model = {"name": "ada", "admin": None, "auth_state": state}
    assert asyncio.run(authenticator._apply_managed_groups(model))["admin"] is True
    plain = {**auth, "cilogon": {"allowedIdps": auth["cilogon"]["allowedIdps"]}}  # type: ignore[index]
    assert "manage_groups" not in render.values("hubs", "lab", base_spec(auth=plain))["hub"]["config"][
        "CILogonOAuthenticator"], "no group read: none managed (the values of hubs before stay as they were)"
