"""Kubernetes API access (lightkube, async): clients per cluster, and writes that happen only when
the live object differs from the desired one."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx2
import yaml
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import (
    ConfigMap,
    Event,
    LimitRange,
    Namespace,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    ResourceQuota,
    Secret,
    ServiceAccount,
)
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from lightkube.types import PatchType

from communityhub.api import models
from communityhub.delivery import render
from communityhub.runtime import leader


@dataclasses.dataclass
class Clusters:
    """One client for the operator's own cluster, one per remote kubeconfig (cached by its text)."""

    local: AsyncClient | None = None
    _remote: dict[str, AsyncClient] = dataclasses.field(default_factory=dict)

    def get(self, kubeconfig: str | None) -> AsyncClient:
        if kubeconfig is None:
            if self.local is None:
                self.local = AsyncClient(field_manager="communityhub-operator")
            return self.local
        client = self._remote.get(kubeconfig)
        if client is None:
            config = KubeConfig.from_dict(yaml.safe_load(kubeconfig))
            client = AsyncClient(config=config, field_manager="communityhub-operator")
            self._remote[kubeconfig] = client
        return client

    async def forget(self, kubeconfig: str) -> None:
        """Close and drop the client of a kubeconfig that is no longer used (a rotated credential)."""
        client = self._remote.pop(kubeconfig, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        for client in [self.local, *self._remote.values()]:
            if client is not None:
                await client.close()


#: A cluster that cannot be reached: lightkube (1.x) raises httpx2 errors, which are not OSError.
UNREACHABLE = (OSError, httpx2.TransportError)


def is_not_found(err: ApiError) -> bool:
    return err.status.code == 404


#: Decides whether an existing object may be used: None, or why not (see communityhub.delivery.names.ownership).
OwnerCheck = Callable[[Mapping[str, Any]], "str | None"]


class NotOwned(RuntimeError):
    """An object the operator would write or delete belongs to someone else; it is left alone."""


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.metadata
    return {"name": meta.name, "labels": dict(meta.labels or {}), "annotations": dict(meta.annotations or {})} \
        if meta else {}


def _up_to_date(meta: Mapping[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
    return all(meta.get("labels", {}).get(k) == v for k, v in labels.items()) and \
        all(meta.get("annotations", {}).get(k) == v for k, v in annotations.items())


async def ensure_namespace(client: AsyncClient, name: str, labels: Mapping[str, str],
                           annotations: Mapping[str, str], check: OwnerCheck) -> bool:
    """Create the namespace or bring its labels and annotations up to date; True when something was written.
    An existing namespace that ``check`` refuses raises NotOwned, untouched."""
    try:
        live = await client.get(Namespace, name)
    except ApiError as err:
        if not is_not_found(err):
            raise
        await client.create(Namespace(metadata={  # type: ignore[arg-type]
            "name": name, "labels": dict(labels), "annotations": dict(annotations)}))
        return True
    if live.metadata and live.metadata.deletionTimestamp:
        raise NamespaceTerminating(name)
    meta = _meta(live)
    if problem := check(meta):
        raise NotOwned(f"namespace {problem}")
    if _up_to_date(meta, labels, annotations):
        return False
    await client.patch(Namespace, name, {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}})
    return True


class NamespaceTerminating(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"namespace {name} is still terminating")
        self.name = name


async def create_if_missing(client: AsyncClient, kind: Any, name: str, namespace: str | None,
                            manifest: dict[str, Any]) -> bool:
    """Create the object unless one of that name exists (left as it is); True when it was created."""
    try:
        await client.get(kind, name, namespace=namespace)
        return False
    except ApiError as err:
        if not is_not_found(err):
            raise
    await client.create(kind.from_dict(manifest))
    return True


async def ensure_role_binding(client: AsyncClient, namespace: str, name: str, cluster_role: str,
                              service_account: str, service_account_namespace: str) -> bool:
    """A RoleBinding of a ClusterRole to a ServiceAccount in one namespace; True when it was created."""
    return await create_if_missing(client, RoleBinding, name, namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": service_account_namespace}],
    })


async def ensure_service_account(client: AsyncClient, name: str, namespace: str, labels: Mapping[str, str],
                                 annotations: Mapping[str, str]) -> bool:
    """A ServiceAccount with these labels and annotations; True when something was written."""
    try:
        live = await client.get(ServiceAccount, name, namespace=namespace)
    except ApiError as err:
        if not is_not_found(err):
            raise
        await client.create(ServiceAccount.from_dict({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "annotations": dict(annotations)}}))
        return True
    if _up_to_date(_meta(live), labels, annotations):
        return False
    await client.patch(ServiceAccount, name, {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}},
                       namespace=namespace)
    return True


async def delete_if_present(client: AsyncClient, kind: Any, name: str, namespace: str | None = None) -> None:
    """Delete the object; one already gone is fine."""
    try:
        await client.delete(kind, name, namespace=namespace)
    except ApiError as err:
        if not is_not_found(err):
            raise


async def wait_for_rights(client: AsyncClient, namespace: str, attempts: int = 50) -> None:
    """After a RoleBinding is created, the API server's authorizer needs a moment: wait (0.2 s a try) until a
    read in the namespace is no longer Forbidden; a missing Secret answers 404 once it is allowed."""
    for _ in range(attempts):
        try:
            await client.get(Secret, "communityhub-rights-probe", namespace=namespace)
            return
        except ApiError as err:
            if err.status.code == 404:
                return
            if err.status.code != 403:
                raise
        await asyncio.sleep(0.2)


PENDING_RELEASE = ("pending-install", "pending-upgrade", "pending-rollback")


async def drop_pending_release(client: AsyncClient, namespace: str, release: str) -> list[str]:
    """Remove the records of a Helm release's pending revisions (Secrets owner=helm), so the next
    ``upgrade --install`` works from the last deployed revision (or installs anew, adopting what the
    interrupted run created). Nothing the release deployed is touched. Returns the records removed."""
    removed = []
    async for record in client.list(Secret, namespace=namespace, labels={"owner": "helm", "name": release}):
        labels = (record.metadata.labels or {}) if record.metadata else {}
        if labels.get("status") in PENDING_RELEASE and record.metadata and record.metadata.name:
            await client.delete(Secret, record.metadata.name, namespace=namespace)
            removed.append(f"{record.metadata.name} ({labels['status']})")
    return removed


async def namespace_meta(client: AsyncClient, name: str) -> dict[str, Any] | None:
    """A namespace's name, labels, annotations and whether it is terminating; None when it does not exist."""
    try:
        live = await client.get(Namespace, name)
    except ApiError as err:
        if is_not_found(err):
            return None
        raise
    return {**_meta(live), "terminating": bool(live.metadata and live.metadata.deletionTimestamp)}


async def delete_namespace(client: AsyncClient, name: str) -> None:
    """Ask for deletion (asynchronous: the namespace terminates, then goes)."""
    try:
        await client.delete(Namespace, name)
    except ApiError as err:
        if not is_not_found(err):
            raise


class SecretForbidden(RuntimeError):
    """The operator may not read Secrets in a namespace: it has not been onboarded as a tenant namespace."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(
            f"the operator may not read Secret {namespace}/{name}: onboard namespace {namespace} with "
            f"`kubectl -n {namespace} create rolebinding communityhub-operator "
            f"--clusterrole=communityhub-operator-tenant --serviceaccount=<operator namespace>:communityhub-operator` "
            f"(or the operator chart's tenantNamespaces)")


async def read_secret(client: AsyncClient, name: str, namespace: str) -> dict[str, bytes] | None:
    """A Secret's data, decoded; None when it does not exist; SecretForbidden where the operator may not read."""
    try:
        secret = await client.get(Secret, name, namespace=namespace)
    except ApiError as err:
        if is_not_found(err):
            return None
        if err.status.code == 403:
            raise SecretForbidden(name, namespace) from err
        raise
    data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    data.update({k: v.encode() for k, v in (secret.stringData or {}).items()})
    return data


async def ensure_secret(
    client: AsyncClient, name: str, namespace: str, data: Mapping[str, bytes], labels: Mapping[str, str],
    owner_references: list[dict[str, Any]] | None = None, annotations: Mapping[str, str] | None = None,
    check: OwnerCheck | None = None,
) -> bool:
    """Create or update an Opaque Secret; True when something was written. With ``check``, an existing
    Secret it refuses raises NotOwned, untouched."""
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    annotations = dict(annotations or {})
    try:
        live = await client.get(Secret, name, namespace=namespace)
    except ApiError as err:
        if not is_not_found(err):
            raise
        body: Any = {"metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                                  "annotations": annotations},
                     "type": "Opaque", "data": encoded}
        if owner_references:
            body["metadata"]["ownerReferences"] = owner_references
        await client.create(Secret.from_dict({"apiVersion": "v1", "kind": "Secret", **body}))
        return True
    meta = _meta(live)
    if check is not None and (problem := check(meta)):
        raise NotOwned(f"Secret {namespace}/{problem}")
    if (live.data or {}) == encoded and _up_to_date(meta, labels, annotations):
        return False
    await client.patch(Secret, name, {"metadata": {"labels": dict(labels), "annotations": annotations},
                                      "data": encoded}, namespace=namespace)
    return True


def deployment_health(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """What HubReady needs from a Deployment: its name and whether its rollout is complete and Available."""
    meta, spec, status = deployment.get("metadata", {}), deployment.get("spec", {}), deployment.get("status", {})
    available = any(
        c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    replicas = spec.get("replicas", 1)
    rolled_out = (
        status.get("observedGeneration", 0) >= meta.get("generation", 0)
        and status.get("updatedReplicas", 0) >= replicas
        and status.get("availableReplicas", 0) >= replicas
    )
    return {"name": meta.get("name"), "ready": bool(available and rolled_out), "replicas": replicas,
            "generation": meta.get("generation", 0)}


async def list_hub_deployments(client: AsyncClient, namespace: str, release: str) -> list[dict[str, Any]]:
    """For clusters the operator does not watch (remote ones): the release's Deployments, read directly."""
    out = []
    async for dep in client.list(Deployment, namespace=namespace, labels={**render.CHART_APP, "release": release}):
        out.append(deployment_health(dep.to_dict()))
    return out


async def rollout_objects(client: AsyncClient, namespace: str, release: str
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The release's Pods and claims, and the events about claims that are not bound: read only while a
    rollout waits, to say why."""
    selector = {**render.CHART_APP, "release": release}
    pods = [pod.to_dict() async for pod in client.list(Pod, namespace=namespace, labels=selector)]
    claims = [c.to_dict() async for c in client.list(PersistentVolumeClaim, namespace=namespace, labels=selector)]
    events: list[dict[str, Any]] = []
    if any((c.get("status") or {}).get("phase") != "Bound" for c in claims):
        events = [e.to_dict() async for e in client.list(
            Event, namespace=namespace, fields={"involvedObject.kind": "PersistentVolumeClaim"})]
    return pods, claims, events


async def scale_deployments(client: AsyncClient, namespace: str, names: list[str], replicas: int) -> None:
    for name in names:
        await client.patch(Deployment, name, {"spec": {"replicas": replicas}}, namespace=namespace,
                           patch_type=PatchType.MERGE)


#: The label KubeSpawner puts on user server pods.
USER_SERVER = {"component": "singleuser-server"}


async def user_server_pods(client: AsyncClient, namespace: str, username: str) -> list[dict[str, Any]]:
    """The server pods of one user of a hub namespace (KubeSpawner's username annotation, as the user is named)."""
    return [pod.to_dict() async for pod in client.list(Pod, namespace=namespace, labels=USER_SERVER)
            if ((pod.metadata.annotations if pod.metadata else None) or {}).get("hub.jupyter.org/username")
            == username]


async def delete_user_servers(client: AsyncClient, namespace: str) -> list[str]:
    """Stop every user server of a hub namespace (their home volumes stay); the names of the pods stopped."""
    names = [str(p.metadata.name) async for p in client.list(Pod, namespace=namespace, labels=USER_SERVER)
             if p.metadata]
    for name in names:
        with contextlib.suppress(ApiError):  # gone meanwhile
            await client.delete(Pod, name, namespace=namespace)
    return names


async def ensure_claim(client: AsyncClient, name: str, namespace: str, storage_class: str, size: str,
                       labels: Mapping[str, str]) -> bool:
    """A ReadWriteMany claim, made once (a claim's class and modes cannot change); True when it was made."""
    return await create_if_missing(client, PersistentVolumeClaim, name, namespace, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": storage_class,
                 "resources": {"requests": {"storage": size}}}})


async def claimed_volumes(client: AsyncClient, namespace: str) -> list[dict[str, Any]]:
    """The namespace's claims and the volumes bound to them: {claim, volume, capacity, reclaimPolicy}."""
    out = []
    async for claim in client.list(PersistentVolumeClaim, namespace=namespace):
        volume = claim.spec.volumeName if claim.spec else None
        if not volume or not claim.metadata:
            continue
        try:
            pv = await client.get(PersistentVolume, volume)
        except ApiError as err:
            if is_not_found(err):
                continue
            raise
        ref = pv.spec.claimRef if pv.spec else None
        if ref is None or ref.namespace != namespace or ref.name != claim.metadata.name:
            continue  # bound elsewhere: not this namespace's to keep
        out.append({"claim": str(claim.metadata.name), "volume": volume,
                    "capacity": str(((pv.spec.capacity or {}) if pv.spec else {}).get("storage", "")),
                    "reclaimPolicy": str(pv.spec.persistentVolumeReclaimPolicy if pv.spec else "")})
    return out


async def retain_volume(client: AsyncClient, name: str, labels: Mapping[str, str],
                        annotations: Mapping[str, str]) -> None:
    """Keep a volume after its claim goes (reclaim policy Retain), labelled with whose it was."""
    await client.patch(PersistentVolume, name, {
        "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
        "spec": {"persistentVolumeReclaimPolicy": "Retain"}}, patch_type=PatchType.MERGE)


#: The CommunityHub resource for lightkube.
HUB = create_namespaced_resource(models.GROUP, models.VERSION, models.KIND, models.PLURAL)
#: Gateway API's HTTPRoute (a class's gatewayRoute: the chart's route of each hub).
HTTP_ROUTE = create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")


async def route_accepted(client: AsyncClient, namespace: str) -> bool:
    """Whether a Gateway accepted an HTTPRoute of the namespace (a parent's Accepted condition True); False where
    the cluster serves no Gateway API or no route is there yet."""
    try:
        async for route in client.list(HTTP_ROUTE, namespace=namespace):
            parents = ((route.to_dict().get("status") or {}).get("parents")) or []
            if any(c.get("type") == "Accepted" and c.get("status") == "True"
                   for parent in parents for c in parent.get("conditions") or []):
                return True
    except ApiError as err:
        if err.status.code == 404:
            return False
        raise
    return False


async def hub_annotations(client: AsyncClient, namespace: str, name: str) -> tuple[dict[str, str], str]:
    """A CommunityHub's annotations and resourceVersion, read fresh (Kopf's body may predate our own writes)."""
    hub = await client.get(HUB, name, namespace=namespace)
    meta = hub.metadata
    return dict((meta.annotations or {}) if meta else {}), str(meta.resourceVersion if meta else "")


async def patch_hub_annotations(client: AsyncClient, namespace: str, name: str, annotations: Mapping[str, str | None],
                                resource_version: str | None = None) -> None:
    """Merge-patch annotations (None removes one); with ``resource_version``, fail with 409 on a concurrent write."""
    metadata: dict[str, Any] = {"annotations": dict(annotations)}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    await client.patch(HUB, name, {"metadata": metadata}, namespace=namespace,
                       patch_type=PatchType.MERGE)


async def patch_hub_status(client: AsyncClient, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Merge-patch the status subresource (a list, as conditions, is replaced whole)."""
    await client.patch(HUB.Status, name, {"status": dict(status)}, namespace=namespace, patch_type=PatchType.MERGE)


async def ensure_config_map(client: AsyncClient, name: str, namespace: str, data: Mapping[str, str],
                            labels: Mapping[str, str]) -> bool:
    """Create or update a ConfigMap; True when something was written."""
    try:
        live = await client.get(ConfigMap, name, namespace=namespace)
    except ApiError as err:
        if not is_not_found(err):
            raise
        await client.create(ConfigMap.from_dict({
            "apiVersion": "v1", "kind": "ConfigMap", "data": dict(data),
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}}))
        return True
    if (live.data or {}) == dict(data):
        return False
    await client.patch(ConfigMap, name, {"data": dict(data)}, namespace=namespace)
    return True


async def request_token(client: AsyncClient, account: str, namespace: str, lifetime: int) -> str:
    """A short-lived token of a ServiceAccount (TokenRequest), for a process that must not hold the operator's."""
    request = ServiceAccount.Token(metadata=ObjectMeta(name=account, namespace=namespace),
                                   spec=TokenRequestSpec(audiences=[], expirationSeconds=lifetime))
    issued = await client.create(request, account, namespace=namespace)
    assert issued.status is not None
    return str(issued.status.token)


def token_kubeconfig_for_own_cluster(account: str, token: str) -> str:
    """A kubeconfig for the operator's own cluster (its server and CA, as the operator reaches it) with ``token``:
    the CA inlined, so nothing of the operator's files is needed to use it."""
    cluster = KubeConfig.from_env().get().cluster
    ca = cluster.certificate_auth_data
    if ca is None and cluster.certificate_auth:
        with open(cluster.certificate_auth, "rb") as handle:
            ca = base64.b64encode(handle.read()).decode()
    entry: dict[str, Any] = {"server": cluster.server}
    if ca:
        entry["certificate-authority-data"] = ca
    elif cluster.insecure:
        entry["insecure-skip-tls-verify"] = True
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": account,
                           "clusters": [{"name": "own", "cluster": entry}],
                           "users": [{"name": account, "user": {"token": token}}],
                           "contexts": [{"name": account, "context": {"cluster": "own", "user": account}}]})


async def claim_config_map(client: AsyncClient, manifest: Mapping[str, Any]) -> dict[str, str] | None:
    """Create the ConfigMap unless one of its name exists: None when this call made it, else the data of the one
    there (the create is the lock: of two callers, one makes it). Read first: a claim held already (every pass of
    a hub that keeps its domain) costs a read, not a refused create."""
    meta = manifest["metadata"]
    try:
        live = await client.get(ConfigMap, meta["name"], namespace=meta["namespace"])
        return dict(live.data or {})
    except ApiError as err:
        if not is_not_found(err):
            raise
    try:
        await client.create(ConfigMap.from_dict(dict(manifest)))
        return None
    except ApiError as err:
        if err.status.code != 409:
            raise
    live = await client.get(ConfigMap, meta["name"], namespace=meta["namespace"])
    return dict(live.data or {})


async def replace_config_map(client: AsyncClient, manifest: Mapping[str, Any], expected_uid: str) -> bool:
    """Take over a stale claim: replace it only if it still names ``expected_uid`` (a resourceVersion-checked
    update, so of two takers one wins); True when done."""
    meta = manifest["metadata"]
    live = await client.get(ConfigMap, meta["name"], namespace=meta["namespace"])
    if (live.data or {}).get("uid") != expected_uid:
        return False
    body = ConfigMap.from_dict({**manifest, "metadata": {**meta, "resourceVersion": live.metadata.resourceVersion}})
    try:
        await client.replace(body)
    except ApiError as err:
        if err.status.code == 409:
            return False
        raise
    return True


async def config_maps(client: AsyncClient, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"name": cm.metadata.name, "data": dict(cm.data or {})}
            async for cm in client.list(ConfigMap, namespace=namespace, labels=dict(labels))]


async def get_or_none(client: AsyncClient, kind: Any, name: str, namespace: str | None) -> Any:
    """The object, or None when there is none (any other error is raised)."""
    try:
        return await client.get(kind, name, namespace=namespace)
    except ApiError as err:
        if is_not_found(err):
            return None
        raise


async def hub_uid(client: AsyncClient, namespace: str, name: str) -> str | None:
    """The uid of the CommunityHub namespace/name, or None when there is none."""
    hub = await get_or_none(client, HUB, name, namespace)
    return str(hub.metadata.uid) if hub is not None and hub.metadata else None


async def apply_objects(client: AsyncClient, manifests: Iterable[Mapping[str, Any]]) -> None:
    """Server-side apply, as the operator's field manager, forcing its fields back where someone changed them."""
    for manifest in manifests:
        kind = {"ResourceQuota": ResourceQuota, "LimitRange": LimitRange}[manifest["kind"]]
        meta = manifest["metadata"]
        await client.apply(kind.from_dict(dict(manifest)), name=meta["name"], namespace=meta["namespace"],
                           field_manager="communityhub-operator", force=True)


async def quota_status(client: AsyncClient, name: str, namespace: str) -> dict[str, Any] | None:
    quota = await get_or_none(client, ResourceQuota, name, namespace)
    if quota is None:
        return None
    status = quota.status
    return {"hard": dict(status.hard or {}), "used": dict(status.used or {})} if status else {}


async def watch_forever(client: AsyncClient, resource: Any, namespace: str | None, labels: Mapping[str, Any],
                        log: Any, server_timeout: int = 300) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
    """A list and then a watch (server-side selector), again and again: ``("LISTED", obj)`` for each listed object,
    then ``("SYNCED", None)``, then the watch's ``(kind, obj)``. The list is redone on every reconnect and when the
    server ends the watch, so nothing missed while disconnected lingers. ``namespace`` None: every namespace."""
    where = {"namespace": namespace if namespace is not None else "*", "labels": labels}
    while True:
        try:
            async for listed in client.list(resource, **where):
                yield "LISTED", listed.to_dict()
            yield "SYNCED", None
            async for kind, obj in client.watch(resource, **where, server_timeout=server_timeout):
                yield kind, obj.to_dict()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a dropped connection: list again after a pause
            log.warning("watch restarts", resource=getattr(resource, "__name__", str(resource)),
                        namespace=namespace, labels=str(labels), error=str(err))
            await asyncio.sleep(2)


class WatchIndex:
    """Objects of one kind with one label selector, kept current by :func:`watch_forever`, as ``key -> [value]``
    like a Kopf index (Secrets of the operator's namespace: it needs no cluster-wide right to Secrets; every
    CommunityHub for shard 0's FleetRollouts).

    ``entry`` turns an object (as a dict) into its (key, value), or None to leave it out."""

    def __init__(self, namespace: str | None, labels: Mapping[str, Any],
                 entry: Callable[[dict[str, Any]], tuple[Any, Any] | None], log: Any, resource: Any = Secret) -> None:
        self.namespace, self.labels, self.entry, self.log, self.resource = namespace, labels, entry, log, resource
        self.data: dict[Any, list[Any]] = {}
        self.ready = asyncio.Event()
        self._by_name: dict[tuple[str, str], Any] = {}

    def _put(self, obj: dict[str, Any], data: dict[Any, list[Any]], by_name: dict[tuple[str, str], Any]) -> None:
        name = self._name(obj)
        self._drop(name, data, by_name)
        if (found := self.entry(obj)) is not None:
            key, value = found
            data[key] = [value]
            by_name[name] = key

    @staticmethod
    def _name(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["metadata"].get("namespace") or "", obj["metadata"]["name"]

    @staticmethod
    def _drop(name: tuple[str, str], data: dict[Any, list[Any]], by_name: dict[tuple[str, str], Any]) -> None:
        if (key := by_name.pop(name, None)) is not None:
            data.pop(key, None)

    async def run(self, client: AsyncClient, server_timeout: int = 300) -> None:
        # A relist builds a new index and swaps it in whole: a pass never sees it half empty.
        data: dict[Any, list[Any]] = {}
        by_name: dict[tuple[str, str], Any] = {}
        async for kind, obj in watch_forever(client, self.resource, self.namespace, self.labels, self.log,
                                             server_timeout):
            if kind == "LISTED" and obj is not None:
                self._put(obj, data, by_name)
            elif kind == "SYNCED":
                self.data, self._by_name = data, by_name
                data, by_name = {}, {}
                self.ready.set()
            elif obj is not None and kind == "DELETED":
                self._drop(self._name(obj), self.data, self._by_name)
            elif obj is not None:
                self._put(obj, self.data, self._by_name)


async def lease_alive(client: AsyncClient, namespace: str, name: str) -> bool:
    """Is the Lease held, and renewed within its duration (its holder may be acting now)?"""
    try:
        lease = await client.get(Lease, name, namespace=namespace)
    except ApiError as err:
        if is_not_found(err):
            return False
        raise
    # Another replica's view of the Lease, as leader election decides it: one nobody could take now is held.
    return leader.held(lease.spec, "", 15, datetime.datetime.now(datetime.UTC))


async def remove_finalizers(client: AsyncClient, namespace: str, name: str, names: Iterable[str]) -> bool:
    """Remove these finalizers from a hub (other shards', once this one took the hub over), checked against the
    resourceVersion read. True when one was removed."""
    hub = await client.get(HUB, name, namespace=namespace)
    meta = hub.metadata
    finalizers = list((meta.finalizers if meta else None) or [])
    drop = set(names)
    keep = [f for f in finalizers if f not in drop]
    if keep == finalizers:
        return False
    await client.patch(HUB, name, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.resourceVersion if meta else ""},
        {"op": "replace", "path": "/metadata/finalizers", "value": keep}],
        namespace=namespace, patch_type=PatchType.JSON)
    return True


async def service_proxy_get(client: AsyncClient, namespace: str, service: str, port: int, path: str) -> str | None:
    """GET ``path`` of a Service through the API server's service proxy (the operator is outside the hub's
    network; the right it takes is services/proxy in hub namespaces); None unless it answers 200."""
    http = client._client._client  # lightkube's httpx client, with the cluster's address and credentials
    try:
        response = await http.get(f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path}")
    except httpx2.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
