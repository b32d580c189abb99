"""How the operator reaches a dedicated cluster after Terraform made it: pure decisions and manifests.

What a cloud module hands back is an admin kubeconfig whose credential may be short-lived (GKE's
``google_client_config.access_token`` lasts about an hour, EKS's ``get-token`` fifteen minutes), and
Terraform does not run again just because that output would change. So the operator uses it once, right
after the apply, to give itself an identity of its own in the cluster: a namespace holding a ServiceAccount,
bound to ``cluster-admin`` (the power the admin kubeconfig had; the cluster is the hub's alone), and a token
from the TokenRequest API bound to a Secret beside it. Before that token runs out the operator asks for the
next one with it, and deletes the previous token's Secret, which revokes that token at once. No cloud CLI, no
token frozen in a Secret: only the Kubernetes API. Should the operator have been away past the token's end,
Terraform runs again and the module's fresh admin credential enrolls it anew.

The ClusterRoleBinding is owned by the namespace, so one deletion (the namespace's) removes the whole
identity: the ServiceAccount, its tokens, and then, by garbage collection, its binding. Deleting them one by
one cannot work, since the first deletion takes away the rights or the token the next would need.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from communityhub.delivery.names import OWNER

#: The operator's ServiceAccount in its namespace of a dedicated cluster.
ACCOUNT = "communityhub-operator"
#: Label of the Secrets the operator's tokens are bound to, so old ones are found.
TOKEN_LABEL = "hubs.2i2c.org/operator-token"
CLUSTER_ROLE = "cluster-admin"
MANAGED_BY = {"app.kubernetes.io/managed-by": "communityhub-operator"}


def namespace(name: str, owner: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "annotations": {OWNER: owner}, "labels": MANAGED_BY}}


def account_objects(namespace_name: str, namespace_uid: str, binding: str, owner: str) -> list[dict[str, Any]]:
    """The ServiceAccount and its ClusterRoleBinding (owned by the namespace ``namespace_uid``)."""
    annotations = {OWNER: owner}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": ACCOUNT, "namespace": namespace_name, "annotations": annotations, "labels": MANAGED_BY}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": binding, "annotations": annotations, "labels": MANAGED_BY,
                      "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": namespace_name,
                                           "uid": namespace_uid}]},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace_name}]},
    ]


def binding_secret(namespace_name: str, serial: int) -> dict[str, Any]:
    """The Secret a token is bound to: deleting it revokes the token."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": f"token-{serial}", "namespace": namespace_name, "labels": {TOKEN_LABEL: "true"}}}


def token_kubeconfig(admin_kubeconfig: str, user: str, token: str) -> str:
    """The cluster entry (server, CA) of the module's kubeconfig with the operator's own token as its user."""
    admin = yaml.safe_load(admin_kubeconfig)
    contexts = {c["name"]: c["context"] for c in admin.get("contexts") or []}
    current = contexts.get(admin.get("current-context", "")) or {}
    clusters = {c["name"]: c for c in admin.get("clusters") or []}
    cluster = clusters.get(current.get("cluster", "")) or (admin.get("clusters") or [None])[0]
    if cluster is None:
        raise ValueError("the module's kubeconfig names no cluster")
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }, sort_keys=False)


def token_of(kubeconfig: str) -> str | None:
    users = (yaml.safe_load(kubeconfig) or {}).get("users") or []
    return (users[0].get("user") or {}).get("token") if users else None


def token_expiry(kubeconfig: str) -> float | None:
    """The ``exp`` (epoch seconds) of the kubeconfig's bearer token when it is a JWT; None otherwise (a client
    certificate, an exec plugin: nothing the operator renews)."""
    token = token_of(kubeconfig)
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def renewal(expiry: float | None, now: float, lifetime: float, renew_before: float) -> str:
    """"keep", "renew" (time to ask for the next token with this one) or "expired" (this one no longer works:
    only the module's admin credential can enroll the operator again). ``renew_before`` 0: a third of
    ``lifetime``."""
    if expiry is None:
        return "keep"
    margin = renew_before or lifetime / 3
    if expiry - now <= 30:  # too close to use for a request that must still succeed
        return "expired"
    return "renew" if expiry - now <= margin else "keep"
