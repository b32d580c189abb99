"""Identities on the local control plane with the real chart: a workshop hub of temporary users, the refusal of
temporary users where files would outlive them, a workshop's shared password, passTokens' encryption key, and the
rules checked at apply."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from communityhub.delivery import names
from localcluster.pki import CertificateAuthority
from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess, server_certificate
from tests.support.cilogon import CILogonRegistry
from tests.support.hubs import (
    RUN,
    create_hub,
    hub,
    hub_manifest,
    hub_ns,
    ns,
    released_values,
    wait_condition,
    wait_ready,
)
from tests.support.kube import Cluster, condition, wait_for
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration

#: Where the key JupyterHub encrypts auth state with (auth.passTokens) lives: the chart generates it once into its
#: hub Secret, in the hub's namespace, and keeps it across upgrades (CryptKeeper.keys); the operator renders none.
CRYPT_SECRET_NAME, CRYPT_KEY = "hub", "hub.config.CryptKeeper.keys"
NO_HOMES = {"image": "quay.io/example/nb:1", "storage": {"type": "none"}}


def test_a_workshop_hub_of_temporary_users_is_delivered_with_its_cap(management: Cluster,
                                                                     operator: OperatorProcess) -> None:
    namespace = ns("team-workshop")
    create_hub(management, "workshop", namespace, secret=False,
               auth={"provider": "temporary", "temporary": {"maxConcurrentUsers": 25}}, environment=NO_HOMES)
    obj = wait_ready(management, "workshop", namespace, timeout=180)
    sso = condition(obj, "SSOReady")
    assert sso is not None and "temporary user (at most 25 servers at once)" in sso["message"]
    config = released_values(management, hub_ns("team-workshop", "workshop"))["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "tmp"
    assert config["JupyterHub"]["active_server_limit"] == 25
    management.kubectl("-n", namespace, "delete", "communityhub", "workshop", "--timeout=120s")


def test_temporary_users_with_persistent_homes_are_refused(management: Cluster, operator: OperatorProcess) -> None:
    namespace = ns("team-openhomes")
    create_hub(management, "openhomes", namespace, secret=False, auth={"provider": "temporary"})
    cond = wait_condition(management, "openhomes", namespace, "SSOReady", "False", "TemporaryUsersRefused")
    assert "environment.storage.type: none, or a lifecycle.window" in cond["message"]
    assert condition(hub(management, "openhomes", namespace), "HubReady")["reason"] == "WaitingForConfiguration"  # type: ignore[index]
    assert management.get("namespace", hub_ns("team-openhomes", "openhomes")) is None, "nothing deployed"
    management.kubectl("-n", namespace, "delete", "communityhub", "openhomes", "--timeout=120s")


#: A workshop's passwords (the sweep of test_zz_secret_sweep looks for them too).
SHARED_USER_PASSWORD = "attendees-of-the-workshop"
SHARED_ADMIN_PASSWORD = "the-admins-password-" + "k" * 20


def test_a_shared_password_reaches_the_hub_only_through_its_secret(management: Cluster,
                                                                   operator: OperatorProcess) -> None:
    """A password JupyterHub would refuse is a condition, not a crash-looping hub; a good one goes to a Secret in
    the hub's namespace that the hub's environment reads, never into values, status or the log."""
    namespace = ns("team-sharedpw")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "passwords", "namespace": namespace},
              "stringData": {"userPassword": "short"}}
    auth = {"provider": "sharedPassword", "sharedPassword": {"secretRef": {"name": "passwords"}}}
    create_hub(management, "sharedpw", namespace, secret=False, auth=auth, environment=NO_HOMES)
    management.apply(secret)
    cond = wait_condition(management, "sharedpw", namespace, "SSOReady", "False", "PasswordRefused")
    assert "userPassword must be 8 characters or more" in cond["message"] and "short" not in cond["message"]
    assert management.get("namespace", hub_ns("team-sharedpw", "sharedpw")) is None, "nothing deployed"
    management.apply({**secret, "stringData": {"userPassword": SHARED_USER_PASSWORD,
                                               "adminPassword": SHARED_ADMIN_PASSWORD}})
    obj = wait_ready(management, "sharedpw", namespace, timeout=180)
    assert "anyone with the workshop's password" in condition(obj, "SSOReady")["message"]  # type: ignore[index]
    hub_namespace = hub_ns("team-sharedpw", "sharedpw")
    copied = management.get("secret", "hub-shared-password", hub_namespace)
    assert copied is not None
    assert base64.b64decode(copied["data"]["userPassword"]).decode() == SHARED_USER_PASSWORD
    assert base64.b64decode(copied["data"]["adminPassword"]).decode() == SHARED_ADMIN_PASSWORD
    values = released_values(management, hub_namespace)
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "shared-password"
    env = values["hub"]["extraEnv"]
    assert env["CHUB_USER_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "hub-shared-password",
                                                                      "key": "userPassword"}
    for place, text in (("status", json.dumps(hub(management, "sharedpw", namespace))),
                        ("operator log", operator.log()), ("values", json.dumps(values))):
        for password in (SHARED_USER_PASSWORD, SHARED_ADMIN_PASSWORD):
            assert password not in text, f"a shared password appears in the {place}"
    management.kubectl("-n", namespace, "delete", "communityhub", "sharedpw", "--timeout=120s")


def test_pass_tokens_encrypts_with_a_key_kept_in_the_hub_namespace(management: Cluster,
                                                                   operator: OperatorProcess) -> None:
    """The chart generates the key into its hub Secret (CryptKeeper.keys) and keeps it across upgrades."""
    namespace = ns("team-tokens")
    create_hub(management, "tokens", namespace, auth={
        "provider": "github", "github": {"organization": "climate-lab"}, "clientSecretRef": {"name": "tokens-oauth"},
        "passTokens": True})
    obj = wait_ready(management, "tokens", namespace, timeout=180)
    hub_namespace = hub_ns("team-tokens", "tokens")
    secret = management.get("secret", CRYPT_SECRET_NAME, hub_namespace)
    key = base64.b64decode(secret["data"][CRYPT_KEY]).decode()
    assert len(bytes.fromhex(key)) == 32  # 64 hex characters: what JupyterHub's CryptKeeper takes
    values = released_values(management, hub_namespace)
    assert values["hub"]["config"]["Authenticator"]["enable_auth_state"] is True
    assert "communityhub-pass-tokens" in values["hub"]["extraConfig"]
    for place, text in (("status", json.dumps(obj)), ("operator log", operator.log()),
                        ("values", json.dumps(values))):
        assert key not in text, f"the encryption key appears in the {place}"
    assert management.get("secret", CRYPT_SECRET_NAME, namespace) is None, "never in the tenant's namespace"
    management.kubectl("-n", namespace, "delete", "communityhub", "tokens", "--timeout=120s")


@pytest.mark.parametrize(("auth", "message"), [
    ({"provider": "github", "github": {"organization": "a"}}, "clientSecretRef is required for a login provider"),
    ({"provider": "temporary", "passTokens": True}, "temporary users have no identity provider"),
    ({"provider": "github", "clientSecretRef": {"name": "x"}, "github": {"organization": "a",
                                                                       "organizations": [{"name": "b"}]}},
     "set organization (with teams) or organizations, not both"),
    ({"provider": "temporary", "keepTokens": True}, "temporary users have no identity provider, so no token to keep"),
    ({"provider": "sharedPassword"}, "sharedPassword settings are required when provider is sharedPassword"),
    ({"provider": "sharedPassword", "sharedPassword": {"secretRef": {"name": "p"}}, "passTokens": True},
     "a shared password has no identity provider, so no token to pass"),
    ({"provider": "oauth2", "clientSecretRef": {"name": "x"}, "oauth2": {
        "authorizeUrl": "https://lms.example.edu/a", "tokenUrl": "https://lms.example.edu/t",
        "userdataUrl": "https://lms.example.edu/u", "allowedGroups": ["g"]}}, "allowedGroups and adminGroups need"),
])
def test_identity_rules_are_checked_at_apply(management: Cluster, operator: OperatorProcess,
                                             auth: dict[str, object], message: str) -> None:
    namespace = ns("team-authrules")
    management.kubectl("create", "namespace", namespace, check=False)
    manifest = hub_manifest("rules", namespace, auth=auth)
    done = subprocess.run([str(management.kubectl_bin), "--kubeconfig", str(management.kubeconfig), "apply", "-f",
                           "-"], input=json.dumps(manifest), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and message in done.stderr, done.stderr


@pytest.fixture(scope="module")
def cilogon_registry(tls_ca: CertificateAuthority) -> Iterator[CILogonRegistry]:
    server = CILogonRegistry("cilogon:/client_id/provider-admin", "admin-secret-of-the-provider",
                             tls=server_certificate(tls_ca, "cilogon-registry"))
    server.start()
    yield server
    server.stop()


def test_a_cilogon_hub_gets_a_client_the_operator_registers_and_deletes_with_it(
        management: Cluster, operator: OperatorProcess, cilogon_registry: CILogonRegistry,
        smtp_sink: SmtpSink) -> None:
    """No Secret from the tenant: the class's administrative client registers the hub's CILogon client (its
    callback the hub's), the hub logs in with it, and its deletion deletes it at CILogon and says so by email."""
    admin = f"cilogon-admin-{RUN}"
    management.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": admin,
                                                                         "namespace": OPERATOR_NAMESPACE},
                      "stringData": {"client_id": "cilogon:/client_id/provider-admin",
                                     "client_secret": "admin-secret-of-the-provider"}})
    klass = f"cilogon-{RUN}"
    management.apply({"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": klass},
                      "spec": {"description": "registers CILogon clients",
                               "cilogonClients": {"adminSecret": admin, "registrationUrl": cilogon_registry.url}}})
    namespace, contact = ns("team-cilogonreg"), "cilogon-reg@identities.example.org"
    auth = {"provider": "cilogon", "cilogon": {"allowedIdps": [
        {"entityId": "urn:mace:incommon:example.edu", "usernameClaim": "eppn", "allowedDomains": ["example.edu"]}]}}
    created = create_hub(management, "reg", namespace, secret=False, hubClassName=klass, auth=auth,
                         community={"displayName": "Registered", "contactEmail": contact, "archetype": "research",
                                    "membership": "general"})
    domain = created["spec"]["hub"]["domain"]
    wait_ready(management, "reg", namespace, timeout=180)
    ((client_id, registered),) = cilogon_registry.clients.items()
    assert registered["redirect_uris"] == [f"https://{domain}/hub/oauth_callback"]
    copied = management.get("secret", "hub-oauth-client", hub_ns("team-cilogonreg", "reg"))
    assert base64.b64decode(copied["data"]["client_id"]).decode() == client_id
    assert base64.b64decode(copied["data"]["client_secret"]).decode() == registered["client_secret"]
    assert client_id in condition(hub(management, "reg", namespace), "SSOReady")["message"]  # type: ignore[index]
    assert registered["client_secret"] not in operator.log()
    posts = [c for c in cilogon_registry.calls if c[0] == "POST"]
    time.sleep(6)  # three more passes: the client is kept, not registered again
    assert [c for c in cilogon_registry.calls if c[0] == "POST"] == posts
    management.kubectl("-n", namespace, "delete", "communityhub", "reg", "--timeout=180s")
    assert cilogon_registry.clients == {}, "deleted at CILogon with the hub"
    assert ("DELETE", client_id) in cilogon_registry.calls
    assert management.get("secret", names.derive(namespace, "reg").cilogon_client_secret, OPERATOR_NAMESPACE) is None
    email = wait_for(lambda: [m for m in smtp_sink.to(contact) if m["X-CommunityHub-Notice"] == "decommissioned"],
                     timeout=60, what="the DECOMMISSIONED email")[0]
    assert f"client {client_id}), which we registered for it, was deleted" in email.get_content()


def test_a_cilogon_hub_without_a_client_on_a_class_that_registers_none_is_refused(
        management: Cluster, operator: OperatorProcess) -> None:
    namespace = ns("team-cilogonnone")
    auth = {"provider": "cilogon", "cilogon": {"allowedIdps": [
        {"entityId": "urn:mace:incommon:example.edu", "usernameClaim": "eppn", "allowedDomains": ["example.edu"]}]}}
    create_hub(management, "none", namespace, secret=False, auth=auth)
    cond = wait_condition(management, "none", namespace, "SSOReady", "False", "ClientSecretNotFound")
    assert "registers no CILogon clients (cilogonClients)" in cond["message"]
    management.kubectl("-n", namespace, "delete", "communityhub", "none", "--timeout=120s")

