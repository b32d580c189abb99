"""What one reconcile pass of one hub knows: its spec, the operator's tools, and what earlier steps found."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from communityhub.adapters.helm import Helm
from communityhub.adapters.kube import Clusters
from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import classes
from communityhub.delivery import names as hub_names
from communityhub.delivery.names import HubNames
from communityhub.fleet.lifecycle import Guards
from communityhub.runtime.settings import Settings


def indexed(index: Mapping[Any, Any], key: Any) -> Any:
    """The value a Kopf index holds for a key (its first, for one-object-per-key indexes), or None."""
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


def first(index: Mapping[Any, Any]) -> dict[Any, Any]:
    """Every key of a one-object-per-key Kopf index with its object (indexed, for all keys)."""
    return {key: found for key in index if (found := indexed(index, key)) is not None}


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the hub's release goes: a cluster (None kubeconfig = the operator's own) and a namespace."""

    cluster: str
    namespace: str
    kubeconfig: str | None = None
    endpoint: str | None = None
    kubeconfig_secret: str | None = None


@dataclasses.dataclass
class HubContext:
    name: str
    namespace: str
    generation: int | None
    spec: CommunityHubSpec
    status: Mapping[str, Any]
    settings: Settings
    helm: Helm
    clusters: Clusters
    #: Kopf indexes: (namespace, release) -> Deployment health; shared cluster name -> its registration
    #: (communityhub.steps.cluster.SharedCluster: kubeconfig and location).
    deployments: Mapping[Any, Any]
    shared_clusters: Mapping[Any, Any]
    log: Any
    #: Every name of the hub's objects (namespace, release, Terraform state...): see communityhub.delivery.names.
    names: HubNames
    #: Kopf index: (namespace, name) -> kubeconfig of the hub's dedicated cluster.
    dedicated_kubeconfigs: Mapping[Any, Any] = dataclasses.field(default_factory=dict)
    #: Shared across passes (operator memo): OIDC issuer -> (expiry on the monotonic clock, endpoints).
    discovery: dict[str, tuple[float, dict[str, str]]] = dataclasses.field(default_factory=dict)
    uid: str = ""
    #: The CommunityHub's annotations as Kopf last saw them.
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The FleetRollout whose label the hub carries, and its target ({chartVersion, values}), if it still exists.
    rollout: str | None = None
    rollout_target: Mapping[str, Any] | None = None
    #: The HubClass the hub is built on (none, found, or named and missing): see communityhub.delivery.classes.
    hub_class: classes.Resolved = classes.NO_CLASS
    #: The FleetRollout that brings changes of the hub's class wave by wave, while one is active.
    class_rollout: str | None = None
    #: The class generation the release still carries, when the hub step held a class change back.
    held_class_generation: int | None = None
    #: The money and lifecycle guards of this pass (decided before the steps run).
    guards: Guards | None = None
    # Filled in by the steps as they run:
    target: Target | None = None
    login_secret: dict[str, bytes] | None = None
    #: A hub moving onto its class's Gateway keeps its Ingress until the route is accepted (steps/hub.py).
    keep_ingress: bool = False
    oidc_endpoints: dict[str, str] | None = None
    release: dict[str, Any] | None = None
    inputs_hash: str | None = None
    #: A dedicated hub's cost estimate (status.estimate), once the cluster step priced it.
    estimate: dict[str, Any] | None = None
    delivered_at: str | None = None
    #: The hub's Dask Gateway release (status.dask) once the Dask step ran; {} removes the status field.
    dask: dict[str, Any] | None = None
    #: The hub's image builder (status.binder) once the binder step ran; {} removes the status field.
    binder: dict[str, Any] | None = None
    #: The hub's buckets (status.buckets) once the buckets step ran; {} removes the status field.
    buckets: dict[str, Any] | None = None
    #: What the deletion keeps (status.decommission), once recorded.
    decommission: dict[str, Any] | None = None
    #: Events a step posts besides those of condition changes: (type, reason, message).
    #: WithinQuota, from the hub namespace's quota (shared clusters), once the hub step read it.
    quota: Verdict | None = None
    #: The hub's home server (status.homes) once the hub step made it; {} removes the status field.
    homes: dict[str, Any] | None = None
    #: The last serving check (status.serving) once the serving step ran one; {} removes the status field.
    serving: dict[str, Any] | None = None
    #: HomeStorage, from the home server's exporters, once the hub step read them.
    home_storage: Verdict | None = None
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def owner_annotations(self) -> dict[str, str]:
        """What marks an object as this hub's."""
        return {hub_names.OWNER: hub_names.owner(self.namespace, self.name)}

    def ownership(self, meta: Mapping[str, Any]) -> str | None:
        """None when an existing object may be used by this hub, else why not."""
        return hub_names.ownership(meta, self.namespace, self.name)


async def remove_if_recorded(ctx: HubContext, recorded: Mapping[str, Any],
                             remove: Callable[[HubContext, Target], Awaitable[Verdict | None]]) -> Verdict | None:
    """A release the spec turned off (a gateway, a builder): removed where the status records one; None once gone
    or never there, else why it stays."""
    if recorded and ctx.target is not None:
        return await remove(ctx, ctx.target)
    return None
