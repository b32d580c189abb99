"""Users log in through the real authenticator code against a stand-in identity provider (an https OAuth2
server on 127.0.0.1, as Canvas is: no discovery), with the configuration the operator renders; their groups
decide who gets in, who is admin, and which profiles they are offered. No cluster: the authenticator and the
profile function the hub would run, in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from oauthenticator.oauth2 import _serialize_state
from traitlets.config import Config

from communityhub.delivery import render
from localcluster.pki import CertificateAuthority
from tests.conftest import server_certificate
from tests.support.oauth2 import OAuth2Provider
from tests.unit.test_render import authenticator_class, base_spec


@pytest.fixture(scope="module")
def provider(tls_ca: CertificateAuthority) -> Iterator[OAuth2Provider]:
    server = OAuth2Provider(tls=server_certificate(tls_ca, "oauth2"))
    server.start()
    yield server
    server.stop()


class Handler:
    """What oauthenticator asks of the request handler of the OAuth callback: the code in its query, and the
    state cookie its login handler set (PKCE's code verifier, which the provider's token endpoint receives)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def get_argument(self, name: str, default: Any = None) -> Any:
        return self.code if name == "code" else default

    def get_state_cookie(self) -> str:
        return _serialize_state({"state_id": "s1", "code_verifier": "verifier-" + "x" * 40})


def hub_for(provider: OAuth2Provider) -> dict[str, Any]:
    auth = {"provider": "oauth2", "clientSecretRef": {"name": "s"}, "oauth2": {
        **provider.endpoints, "usernameKey": "login_id", "loginService": "Canvas", "groupsKey": "courses",
        "allowedGroups": ["geo-101", "geo-201"], "adminGroups": ["geo-teachers"]}}
    environment = {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), "profiles": [
        {"name": "small", "memory": "4Gi", "default": True},
        {"name": "gpu", "memory": "16Gi", "allowedGroups": ["geo-201"]},
        {"name": "teaching", "memory": "8Gi", "allowedGroups": ["geo-teachers"]}]}
    return render.values("hubs", "lab", base_spec(auth=auth, environment=environment))


def logs_in(values: dict[str, Any], provider: OAuth2Provider, user: dict[str, Any],
            tls_ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
    monkeypatch.setenv("OAUTH_CLIENT_ID", "stand-in-client")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "stand-in-secret")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_ca.cert_path))  # trust the stand-in's CA, as the hub's image would
    config = values["hub"]["config"]
    authenticator = authenticator_class("generic-oauth")(config=Config(
        {"GenericOAuthenticator": config["GenericOAuthenticator"], "Authenticator": config["Authenticator"]}))
    provider.log_in_as(user)
    result: dict[str, Any] | None = asyncio.run(authenticator.get_authenticated_user(Handler("code-1"), None))
    return result


def offered(values: dict[str, Any], groups: list[str]) -> list[str]:
    """The profiles the hub's KubeSpawner would offer a user of these groups (the rendered extraConfig, run)."""
    namespace: dict[str, Any] = {"c": Config()}
    namespace["c"].KubeSpawner.profile_list = values["singleuser"]["profileList"]
    exec(values["hub"]["extraConfig"]["communityhub-profile-groups"], namespace)
    spawner = SimpleNamespace(user=SimpleNamespace(groups=[SimpleNamespace(name=g) for g in groups]))
    # An async callable (it may call the class's own profile_list first), as KubeSpawner awaits it.
    return [p["slug"] for p in asyncio.run(namespace["c"].KubeSpawner.profile_list(spawner))]


def test_a_user_of_two_groups_logs_in_through_oauth2_and_is_offered_their_profiles(
        provider: OAuth2Provider, tls_ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    values = hub_for(provider)
    user = logs_in(values, provider, {"login_id": "ada", "courses": ["geo-101", "geo-201"]}, tls_ca, monkeypatch)
    assert user is not None and user["name"] == "ada"
    assert sorted(user["groups"]) == ["geo-101", "geo-201"] and not user.get("admin")
    assert user["auth_state"]["access_token"] == "token-of-ada"
    assert "/login/oauth2/token" in provider.requests and "/api/v1/users/self" in provider.requests
    assert offered(values, user["groups"]) == ["small", "gpu"]


def test_a_teacher_is_admin_and_someone_of_no_allowed_group_is_refused(
        provider: OAuth2Provider, tls_ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    values = hub_for(provider)
    teacher = logs_in(values, provider, {"login_id": "grace", "courses": ["geo-101", "geo-teachers"]}, tls_ca,
                      monkeypatch)
    assert teacher is not None and teacher["admin"] is True
    assert offered(values, teacher["groups"]) == ["small", "teaching"]
    outsider = logs_in(values, provider, {"login_id": "mallory", "courses": ["chem-300"]}, tls_ca, monkeypatch)
    assert outsider is None, "no allowed group: not let in"
