"""CILogon clients the operator registers for its hubs (issue 34): the adapter against a stand-in of CILogon's
client management (real https on 127.0.0.1, its administrative bearer checked, as OA4MP's oidc-cm takes it), and
the pure decisions. tests/integration/test_identities.py delivers and deletes a hub with one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from communityhub.adapters import cilogon, http
from communityhub.api.models import HubClassSpec
from communityhub.delivery import cilogon_clients
from communityhub.fleet import decommission
from localcluster.pki import CertificateAuthority
from tests.conftest import server_certificate
from tests.support.cilogon import CILogonRegistry
from tests.unit.test_render import base_spec

ADMIN = {"client_id": b"cilogon:/client_id/provider-admin", "client_secret": b"admin-secret-of-the-provider"}


@pytest.fixture
def registry(tls_ca: CertificateAuthority) -> Iterator[CILogonRegistry]:
    server = CILogonRegistry(ADMIN["client_id"].decode(), ADMIN["client_secret"].decode(),
                             tls=server_certificate(tls_ca, "cilogon-registry"))
    server.start()
    yield server
    server.stop()


def cilogon_spec(**auth: Any) -> Any:
    return base_spec(auth={"provider": "cilogon", "cilogon": {"allowedIdps": [
        {"entityId": "urn:mace:incommon:example.edu", "usernameClaim": "email",
         "allowedDomains": ["example.edu"]}]}, **auth})


def test_a_hub_client_is_registered_updated_and_deleted_with_the_admin_client(
        registry: CILogonRegistry, tls_ca: CertificateAuthority) -> None:
    options = {"timeout_seconds": 10, "extra_ca_file": str(tls_ca.cert_path), "allow_private": True}
    spec = cilogon_spec()
    bearer = cilogon_clients.admin_authorization(ADMIN)

    async def run() -> None:
        made = await cilogon.register(registry.url, bearer, cilogon_clients.details(spec, "team", "lab"), **options)
        stored = registry.clients[made["client_id"]]
        assert stored["redirect_uris"] == ["https://climate-lab.hubs.example.org/hub/oauth_callback"]
        assert stored["client_name"] == "communityhub-team-lab" and stored["client_secret"] == made["client_secret"]
        assert "org.cilogon.userinfo" in stored["scope"].split()
        moved = cilogon_clients.details(spec, "team", "lab") | {"redirect_uris": ["https://new.example.org/hub/x"]}
        await cilogon.update(registry.url, bearer, made["client_id"], moved, **options)
        assert registry.clients[made["client_id"]]["redirect_uris"] == ["https://new.example.org/hub/x"]
        assert registry.clients[made["client_id"]]["client_secret"] == made["client_secret"], "its secret stays"
        assert await cilogon.delete(registry.url, bearer, made["client_id"], **options) is True
        assert registry.clients == {}
        assert await cilogon.delete(registry.url, bearer, made["client_id"], **options) is False, "already gone"
        with pytest.raises(http.HttpError) as refused:
            await cilogon.register(registry.url, "Bearer not-the-admin", {}, **options)
        assert "HTTP 401" in str(refused.value) and "not-the-admin" not in str(refused.value)

    asyncio.run(run())


def test_what_to_do_with_a_hubs_client() -> None:
    spec = cilogon_spec()
    assert cilogon_clients.registers(spec)
    assert not cilogon_clients.registers(cilogon_spec(clientSecretRef={"name": "s"})), "a tenant's client: not ours"
    assert cilogon_clients.action(spec, None) == "register"
    record = {"client_id": b"c", "client_secret": b"s",
              "redirect_uri": b"https://climate-lab.hubs.example.org/hub/oauth_callback"}
    assert cilogon_clients.action(spec, record) == "keep"
    assert cilogon_clients.action(spec, {**record, "redirect_uri": b"https://old.example.org/hub/oauth_callback"}) \
        == "update"
    plain = HubClassSpec.model_validate({"sharedStorage": {"storageClassName": "rwx"}})
    refused = cilogon_clients.refusal(spec, plain, "basehub")
    assert refused is not None and "cilogonClients" in refused and "HubClass basehub" in refused
    registering = HubClassSpec.model_validate({"sharedStorage": {"storageClassName": "rwx"},
                                               "cilogonClients": {"adminSecret": "cilogon-admin"}})
    assert cilogon_clients.refusal(spec, registering, "c") is None
    assert registering.cilogon_clients is not None
    assert registering.cilogon_clients.registration_url == "https://cilogon.org/oauth2/oidc-cm"


def test_the_decommissioned_email_says_the_client_went_or_asks_to_revoke_it() -> None:
    spec = cilogon_spec()
    verdict, notice = decommission.summary(spec, "team", "lab", "c1", [], (),
                                           {"clientId": "cilogon:/client_id/abc", "deleted": True})
    assert "CILogon client cilogon:/client_id/abc the operator registered for the hub deleted" in verdict.message
    assert "was deleted" in notice.text and "revoke" not in verdict.message
    verdict, _ = decommission.summary(spec, "team", "lab", "c1", [], (),
                                      {"clientId": "cilogon:/client_id/abc", "deleted": False, "why": "HTTP 503"})
    assert "could not be deleted (HTTP 503): revoke it at CILogon" in verdict.message
