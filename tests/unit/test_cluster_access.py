"""The operator's renewable credential for dedicated clusters: when to renew, what the kubeconfig holds."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from communityhub.delivery import cluster_access, names

ADMIN = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "other", "cluster": {"server": "https://10.0.0.9"}},
                 {"name": "gke_p_r_c",
                  "cluster": {"server": "https://34.1.2.3", "certificate-authority-data": "Q0E="}}],
    "users": [{"name": "admin", "user": {"token": "ya29.one-hour-access-token"}}],
    "contexts": [{"name": "main", "context": {"cluster": "gke_p_r_c", "user": "admin"}}],
    "current-context": "main",
})


def jwt(claims: dict[str, object]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_the_kubeconfig_keeps_the_modules_cluster_and_carries_only_the_operators_token() -> None:
    config = yaml.safe_load(cluster_access.token_kubeconfig(ADMIN, "communityhub-x", "tok"))
    assert config["clusters"] == [{"name": "gke_p_r_c",
                                   "cluster": {"server": "https://34.1.2.3", "certificate-authority-data": "Q0E="}}]
    assert config["users"] == [{"name": "communityhub-x", "user": {"token": "tok"}}]
    assert "ya29" not in cluster_access.token_kubeconfig(ADMIN, "communityhub-x", "tok")
    with pytest.raises(ValueError, match="no cluster"):
        cluster_access.token_kubeconfig(yaml.safe_dump({"clusters": []}), "a", "t")


def test_the_expiry_is_read_from_the_tokens_claims_and_absent_for_what_the_operator_does_not_renew() -> None:
    config = cluster_access.token_kubeconfig(ADMIN, "a", jwt({"exp": 1_900_000_000, "sub": "x"}))
    assert cluster_access.token_expiry(config) == 1_900_000_000
    assert cluster_access.token_expiry(ADMIN) is None  # an opaque access token: not ours to renew
    assert cluster_access.token_expiry(cluster_access.token_kubeconfig(ADMIN, "a", "a.!!!.c")) is None
    certificate = yaml.safe_dump({"users": [{"name": "u", "user": {"client-certificate-data": "x"}}]})
    assert cluster_access.token_expiry(certificate) is None


@pytest.mark.parametrize(("left", "renew_before", "expected"), [
    (86400, 0, "keep"), (28801, 0, "keep"), (28800, 0, "renew"), (31, 0, "renew"), (30, 0, "expired"),
    (-5, 0, "expired"), (500, 590, "renew"), (595, 590, "keep"),
])
def test_renewal_comes_a_third_of_the_lifetime_before_the_end(left: float, renew_before: float, expected: str) -> None:
    assert cluster_access.renewal(1000.0 + left, 1000.0, 86400, renew_before) == expected
    assert cluster_access.renewal(None, 1000.0, 86400, renew_before) == "keep"


def test_the_account_is_bound_to_cluster_admin_and_goes_with_its_namespace() -> None:
    derived = names.derive("team", "glacier-lab")
    namespace = derived.cluster_access_namespace
    assert namespace.startswith("operator-team-glacier-lab-") and len(namespace) <= 63
    account, binding = cluster_access.account_objects(namespace, "uid-1", derived.cluster_access_binding,
                                                      "team/glacier-lab")
    assert account["metadata"]["namespace"] == namespace
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": cluster_access.ACCOUNT, "namespace": namespace}]
    # One deletion removes it all: the binding is the namespace's, for the garbage collector.
    assert binding["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": "uid-1"}]
    assert binding["metadata"]["annotations"][names.OWNER] == "team/glacier-lab"
    assert cluster_access.binding_secret(namespace, 7)["metadata"]["labels"] == {cluster_access.TOKEN_LABEL: "true"}
