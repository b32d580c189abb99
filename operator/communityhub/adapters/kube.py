"""Kubernetes API access (lightkube, async): clients per cluster, and writes that happen only when
the live object differs from the desired one."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, PersistentVolumeClaim, Pod, Secret
from lightkube.types import PatchType

from communityhub.api import models


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

    async def close(self) -> None:
        for client in [self.local, *self._remote.values()]:
            if client is not None:
                await client.close()


def is_not_found(err: ApiError) -> bool:
    return err.status.code == 404


async def ensure_namespace(client: AsyncClient, name: str, labels: Mapping[str, str]) -> bool:
    """Create the namespace or bring its labels up to date; True when something was written."""
    try:
        live = await client.get(Namespace, name)
    except ApiError as err:
        if not is_not_found(err):
            raise
        await client.create(Namespace(metadata={"name": name, "labels": dict(labels)}))  # type: ignore[arg-type]
        return True
    if live.metadata and live.metadata.deletionTimestamp:
        raise NamespaceTerminating(name)
    current = dict((live.metadata.labels or {}) if live.metadata else {})
    if all(current.get(k) == v for k, v in labels.items()):
        return False
    await client.patch(Namespace, name, {"metadata": {"labels": dict(labels)}})
    return True


class NamespaceTerminating(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"namespace {name} is still terminating")
        self.name = name


async def delete_namespace(client: AsyncClient, name: str) -> bool:
    """Ask for deletion; True while the namespace still exists (deletion is asynchronous)."""
    try:
        live = await client.get(Namespace, name)
    except ApiError as err:
        if is_not_found(err):
            return False
        raise
    if not (live.metadata and live.metadata.deletionTimestamp):
        try:
            await client.delete(Namespace, name)
        except ApiError as err:
            if is_not_found(err):
                return False
            raise
    return True


async def read_secret(client: AsyncClient, name: str, namespace: str) -> dict[str, bytes] | None:
    """A Secret's data, decoded; None when it does not exist."""
    try:
        secret = await client.get(Secret, name, namespace=namespace)
    except ApiError as err:
        if is_not_found(err):
            return None
        raise
    data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    data.update({k: v.encode() for k, v in (secret.stringData or {}).items()})
    return data


async def ensure_secret(
    client: AsyncClient, name: str, namespace: str, data: Mapping[str, bytes], labels: Mapping[str, str],
    owner_references: list[dict[str, Any]] | None = None,
) -> bool:
    """Create or update an Opaque Secret; True when something was written."""
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    try:
        live = await client.get(Secret, name, namespace=namespace)
    except ApiError as err:
        if not is_not_found(err):
            raise
        body: Any = {"metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                     "type": "Opaque", "data": encoded}
        if owner_references:
            body["metadata"]["ownerReferences"] = owner_references
        await client.create(Secret.from_dict({"apiVersion": "v1", "kind": "Secret", **body}))
        return True
    live_labels = (live.metadata.labels or {}) if live.metadata else {}
    if (live.data or {}) == encoded and all(live_labels.get(k) == v for k, v in labels.items()):
        return False
    await client.patch(Secret, name, {"metadata": {"labels": dict(labels)}, "data": encoded}, namespace=namespace)
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
    return {"name": meta.get("name"), "ready": bool(available and rolled_out)}


async def list_hub_deployments(client: AsyncClient, namespace: str, release: str) -> list[dict[str, Any]]:
    """For clusters the operator does not watch (remote ones): the release's Deployments, read directly."""
    out = []
    async for dep in client.list(Deployment, namespace=namespace, labels={"app": "jupyterhub", "release": release}):
        out.append(deployment_health(dep.to_dict()))
    return out


async def rollout_objects(client: AsyncClient, namespace: str, release: str
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The release's Pods and claims, and the events about claims that are not bound: read only while a
    rollout waits, to say why."""
    selector = {"app": "jupyterhub", "release": release}
    pods = [pod.to_dict() async for pod in client.list(Pod, namespace=namespace, labels=selector)]
    claims = [c.to_dict() async for c in client.list(PersistentVolumeClaim, namespace=namespace, labels=selector)]
    events: list[dict[str, Any]] = []
    if any((c.get("status") or {}).get("phase") != "Bound" for c in claims):
        events = [e.to_dict() async for e in client.list(
            Event, namespace=namespace, fields={"involvedObject.kind": "PersistentVolumeClaim"})]
    return pods, claims, events


#: The CommunityHub resource for lightkube.
HUB = create_namespaced_resource(models.GROUP, models.VERSION, models.KIND, models.PLURAL)


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
