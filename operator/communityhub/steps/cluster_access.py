"""The operator's own, renewable credential for a dedicated cluster (the why: communityhub.delivery.cluster_access).

``enroll`` runs once after an apply with the module's admin kubeconfig; ``refresh`` runs on each pass and
asks for the next token with the current one when the current one nears its end; ``retire`` revokes the
tokens before the one just stored; ``withdraw`` removes the identity when the hub goes (a cloud cluster goes
with it anyway; the local module's control plane stays).
"""

from __future__ import annotations

import dataclasses
import time

from lightkube import ApiError, AsyncClient
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from communityhub.adapters import kube
from communityhub.delivery import cluster_access, names
from communityhub.delivery.cluster_access import ACCOUNT, TOKEN_LABEL
from communityhub.runtime import metrics
from communityhub.steps.context import HubContext


@dataclasses.dataclass(frozen=True)
class Credential:
    kubeconfig: str
    #: The Secret its token is bound to; :func:`retire` revokes every other token of the account.
    bound_secret: str
    #: The kubeconfig whose client asked for it (the module's, or the token before).
    issuer_kubeconfig: str


class Expired(RuntimeError):
    """The operator's token for a dedicated cluster no longer works: it enrolls again through Terraform."""


async def _issue(client: AsyncClient, namespace: str, lifetime: float) -> tuple[str, str]:
    """A new token for the operator's account, bound to a new Secret: (token, that Secret's name)."""
    bound = await client.create(Secret.from_dict(cluster_access.binding_secret(namespace, time.time_ns())))
    assert bound.metadata is not None
    request = ServiceAccount.Token(
        metadata=ObjectMeta(name=ACCOUNT, namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=int(lifetime),
                              boundObjectRef=BoundObjectReference(kind="Secret", apiVersion="v1",
                                                                  name=bound.metadata.name, uid=bound.metadata.uid)))
    issued = await client.create(request, ACCOUNT, namespace=namespace)
    assert issued.status is not None
    return issued.status.token, str(bound.metadata.name)


async def enroll(ctx: HubContext, admin_kubeconfig: str) -> Credential:
    """With the module's admin kubeconfig: the operator's namespace, ServiceAccount, binding and a first token."""
    client = ctx.clusters.get(admin_kubeconfig)
    namespace, owner = ctx.names.cluster_access_namespace, names.owner(ctx.namespace, ctx.name)
    await kube.create_if_missing(client, Namespace, namespace, None, cluster_access.namespace(namespace, owner))
    live = await client.get(Namespace, namespace)
    assert live.metadata is not None
    for manifest in cluster_access.account_objects(namespace, str(live.metadata.uid),
                                                   ctx.names.cluster_access_binding, owner):
        kind = ServiceAccount if manifest["kind"] == "ServiceAccount" else ClusterRoleBinding
        await kube.create_if_missing(client, kind, manifest["metadata"]["name"],
                                     manifest["metadata"].get("namespace"), manifest)
    token, bound = await _issue(client, namespace, ctx.settings.cluster_token_seconds)
    return Credential(cluster_access.token_kubeconfig(admin_kubeconfig, ACCOUNT, token), bound, admin_kubeconfig)


async def refresh(ctx: HubContext, kubeconfig: str) -> Credential | None:
    """The next credential when the current token nears its end (asked for with that token); None: keep it.
    Raises Expired when it can no longer be used."""
    expiry = cluster_access.token_expiry(kubeconfig)
    if expiry is not None:
        metrics.CLUSTER_CREDENTIAL_EXPIRY.labels(ctx.namespace, ctx.name).set(expiry)
    due = cluster_access.renewal(expiry, time.time(),
                                 ctx.settings.cluster_token_seconds, ctx.settings.cluster_token_renew_seconds)
    if due == "keep":
        return None
    if due == "expired":
        raise Expired("the operator's token for the dedicated cluster has run out")
    try:
        token, bound = await _issue(ctx.clusters.get(kubeconfig), ctx.names.cluster_access_namespace,
                                    ctx.settings.cluster_token_seconds)
    except ApiError as err:
        if err.status.code in (401, 403, 404):
            raise Expired(f"the cluster refused to renew the operator's token ({err.status.code})") from err
        raise
    return Credential(cluster_access.token_kubeconfig(kubeconfig, ACCOUNT, token), bound, kubeconfig)


async def retire(ctx: HubContext, credential: Credential) -> None:
    """Once ``credential`` is stored: revoke the account's other tokens (delete their Secrets), and drop the
    client of the kubeconfig that asked for it."""
    client = ctx.clusters.get(credential.kubeconfig)
    namespace = ctx.names.cluster_access_namespace
    async for old in client.list(Secret, namespace=namespace, labels={TOKEN_LABEL: "true"}):
        if old.metadata is not None and old.metadata.name != credential.bound_secret:
            await kube.delete_if_present(client, Secret, str(old.metadata.name), namespace)
    await ctx.clusters.forget(credential.issuer_kubeconfig)


async def withdraw(ctx: HubContext, kubeconfig: str) -> None:
    """Remove the operator's identity from the cluster: its namespace (the binding follows by garbage
    collection). The token in ``kubeconfig`` stops working with it."""
    await kube.delete_if_present(ctx.clusters.get(kubeconfig), Namespace, ctx.names.cluster_access_namespace)
    await ctx.clusters.forget(kubeconfig)
