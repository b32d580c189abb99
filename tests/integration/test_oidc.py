"""A hub on a generic OIDC issuer: discovery over https (a real issuer with a private CA), a failing issuer
reported on SSOReady while the hub step waits, and recovery once the issuer answers."""

from __future__ import annotations

import pytest

from tests.conftest import OperatorProcess
from tests.support.hubs import RUN, create_hub, hub, hub_ns, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster, condition
from tests.support.oidc import WELL_KNOWN, OidcIssuer, discovery_document

pytestmark = pytest.mark.integration


def test_oidc_issuer_discovered_over_https_failure_reported_then_recovered(
        management: Cluster, operator: OperatorProcess, oidc_issuer: OidcIssuer) -> None:
    realm = f"research-{RUN}"
    issuer = oidc_issuer.issuer(realm)
    oidc_issuer.serve(realm, status=503, body={"error": "maintenance"})
    create_hub(management, "idp", ns("team-idp"), auth={
        "provider": "oidc", "clientSecretRef": {"name": "idp-oauth"},
        "oidc": {"issuer": issuer, "allowedGroups": ["climate"], "adminGroups": ["climate-admins"]}})

    cond = wait_condition(management, "idp", ns("team-idp"), "SSOReady", "False", "IssuerDiscoveryFailed")
    assert issuer in cond["message"] and "HTTP 503" in cond["message"]
    assert f"/realms/{realm}{WELL_KNOWN}" in oidc_issuer.requests  # the operator did ask, over https
    obj = hub(management, "idp", ns("team-idp"))
    assert condition(obj, "HubReady")["reason"] == "WaitingForConfiguration"  # type: ignore[index]
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert management.get("namespace", hub_ns("team-idp", "idp")) is None  # nothing rendered from a guess

    oidc_issuer.serve(realm)  # the issuer is back
    wait_ready(management, "idp", ns("team-idp"), timeout=180)
    sso = condition(hub(management, "idp", ns("team-idp")), "SSOReady")
    assert sso["status"] == "True" and "climate" in sso["message"]  # type: ignore[index]
    generic = released_values(management, hub_ns("team-idp", "idp"))["hub"]["config"]["GenericOAuthenticator"]
    document = discovery_document(issuer)
    assert (generic["authorize_url"], generic["token_url"], generic["userdata_url"]) == (
        document["authorization_endpoint"], document["token_endpoint"], document["userinfo_endpoint"])
    assert generic["allowed_groups"] == ["climate"] and generic["admin_groups"] == ["climate-admins"]
