"""A hub's Dask Gateway (spec.dask), as the real Dask Gateway chart takes it, and who may do what (pure).

Each daskhub gets its own release of the chart in the hub's namespace, beside JupyterHub: the gateway's API
server and its Traefik proxy, authenticated through the hub (a JupyterHub service whose token the JupyterHub
chart generates into its ``hub`` Secret). What is cluster-wide is not the hub's: the chart's
CustomResourceDefinitions and its controller (which makes every gateway's scheduler and worker pods) are
installed once per cluster by the provider (docs/operations.md), so a hub's release skips the CRDs and turns
the controller off. The chart's own RBAC is cluster-wide (a ClusterRole with ``*`` on every DaskCluster, and
Traefik's on every Secret): a hub's release names its ServiceAccounts instead, so the chart makes none. The
operator gives the gateway's and Traefik's ServiceAccounts Roles in the hub's namespace only, so one hub's
gateway can neither see nor touch another's clusters.
"""

from __future__ import annotations

from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.api.quantities import parse_memory
from communityhub.delivery import render

GATEWAY_ACCOUNT = "dask-gateway-api"
TRAEFIK_ACCOUNT = "dask-gateway-traefik"
#: The JupyterHub service the gateway authenticates users through (its token: the JupyterHub chart's hub Secret).
SERVICE = "dask-gateway"
#: The controller the provider installs once per cluster (label of its Deployment, as the chart sets it).
CONTROLLER_COMPONENT = "controller"
TRAEFIK_CRDS = ["ingressroutes", "ingressroutetcps", "ingressrouteudps", "middlewares", "middlewaretcps",
                "serverstransports", "serverstransporttcps", "tlsoptions", "tlsstores", "traefikservices"]


def enabled(spec: CommunityHubSpec) -> bool:
    return spec.dask is not None and spec.dask.enabled


def deployments(dask_release: str) -> list[str]:
    """The Deployments DaskReady waits for in the hub's namespace (the chart's names for the release)."""
    return [f"api-{dask_release}"[:63].rstrip("-"), f"traefik-{dask_release}"[:63].rstrip("-")]


def _size(size: Any) -> dict[str, Any]:
    return {"cores": {"request": size.cores, "limit": size.cores},
            "memory": {"request": size.memory, "limit": size.memory}}


def gateway_values(spec: CommunityHubSpec, hub_namespace: str, dask_release: str) -> dict[str, Any]:
    """The chart values of the hub's gateway release (its objects named api-<release>, traefik-<release>)."""
    assert spec.dask is not None
    dask = spec.dask
    limits = (f"c.ClusterConfig.cluster_max_cores = {float(dask.max_cores_per_cluster)!r}\n"
              f"c.ClusterConfig.cluster_max_memory = {parse_memory(dask.max_memory_per_cluster)!r}\n"
              f"c.ClusterConfig.idle_timeout = {dask.idle_timeout_minutes * 60}\n"
              # A user's clusters, and each cluster's workers (its cores over the worker's): bounded, not just sized.
              f"c.ClusterConfig.cluster_max_workers = {max(1, int(dask.max_cores_per_cluster // dask.worker.cores))}\n"
              f"c.UserLimits.max_clusters = {dask.max_clusters_per_user}\n"
              f"c.UserLimits.max_cores = {float(dask.max_cores_per_cluster * dask.max_clusters_per_user)!r}\n")
    return {
        "fullnameOverride": dask_release,
        # With the ServiceAccounts named, the chart makes none of them, nor their ClusterRoles and bindings: the
        # operator's Roles (roles()) are all they hold.
        "rbac": {"enabled": True, "gateway": {"serviceAccountName": GATEWAY_ACCOUNT},
                 "traefik": {"serviceAccountName": TRAEFIK_ACCOUNT}},
        "controller": {"enabled": False},  # the provider's, one per cluster
        "gateway": {
            "auth": {"type": "jupyterhub", "jupyterhub": {
                "apiTokenFromSecretName": render.HUB_SECRET,
                "apiTokenFromSecretKey": f"hub.services.{SERVICE}.apiToken", "apiUrl": render.HUB_API_URL}},
            "backend": {"namespace": hub_namespace, "scheduler": _size(dask.scheduler), "worker": _size(dask.worker)},
            "extraConfig": {"communityhub-limits": limits},
            "nodeSelector": {"hub.jupyter.org/node-purpose": "core"},
        },
        "traefik": {
            "service": {"type": "ClusterIP"},  # users reach it through the hub's proxy, not a load balancer
            # Only this namespace's routes: the chart's own flag would read every namespace's.
            "additionalArguments": [f"--providers.kubernetescrd.namespaces={hub_namespace}"],
            "nodeSelector": {"hub.jupyter.org/node-purpose": "core"},
        },
    }


def hub_values(spec: CommunityHubSpec, dask_release: str) -> dict[str, Any]:
    """What the JupyterHub release adds for a daskhub: the gateway as a JupyterHub service (the chart makes its
    token), proxied at /services/dask-gateway, and the users' environment, so ``Gateway()`` needs no argument."""
    if not enabled(spec):
        return {}
    traefik = deployments(dask_release)[1]
    access = f"access:services!service={SERVICE}"
    return {
        "hub": {"services": {SERVICE: {"display": False, "url": f"http://{traefik}"}},
                # Users, and their servers' tokens (what a notebook's Gateway() holds), may use the gateway service.
                "extraConfig": {"communityhub-dask-roles": render.role_scopes_config(
                    "communityhub_dask_roles", {"user": [access], "server": [access]})}},
        # Users reach the gateway through the proxy's http port (the chart's NetworkPolicy label for it).
        "singleuser": {"extraLabels": {"hub.jupyter.org/network-access-proxy-http": "true"}, "extraEnv": {
            "DASK_GATEWAY__ADDRESS": f"http://proxy-public/services/{SERVICE}",
            "DASK_GATEWAY__PROXY_ADDRESS": f"gateway://{traefik}:80",
            "DASK_GATEWAY__PUBLIC_ADDRESS": f"/services/{SERVICE}/",
            "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
            # KubeSpawner expands {...} with the user's names (an unknown name fails the server's start), so the
            # braces are doubled: the server sees {JUPYTER_IMAGE_SPEC}, which the gateway client fills in, and
            # $(VAR) is Kubernetes' own expansion in the pod. Workers run the user's image, with their buckets.
            "DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE": "{{JUPYTER_IMAGE_SPEC}}",
            "DASK_GATEWAY__CLUSTER__OPTIONS__ENVIRONMENT":
                '{{"SCRATCH_BUCKET": "$(SCRATCH_BUCKET)", "PANGEO_SCRATCH": "$(PANGEO_SCRATCH)"}}',
            # The dashboard through the user's own server (jupyter-server-proxy), not a port of the scheduler.
            "DASK_DISTRIBUTED__DASHBOARD__LINK": "{{JUPYTERHUB_SERVICE_PREFIX}}proxy/{{port}}/status",
        }},
    }


def roles(hub_namespace: str) -> list[dict[str, Any]]:
    """The gateway's and Traefik's ServiceAccounts and their Roles, in the hub's namespace only."""
    rules = {
        GATEWAY_ACCOUNT: [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            {"apiGroups": ["gateway.dask.org"], "resources": ["daskclusters"],
             "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
        ],
        TRAEFIK_ACCOUNT: [
            {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            {"apiGroups": ["traefik.io"], "resources": TRAEFIK_CRDS, "verbs": ["get", "list", "watch"]},
        ],
    }
    objects: list[dict[str, Any]] = []
    for account, account_rules in rules.items():
        meta = {"name": account, "namespace": hub_namespace, "labels": {"app.kubernetes.io/managed-by":
                                                                         "communityhub-operator"}}
        objects += [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": account_rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
             "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": hub_namespace}]},
        ]
    return objects


def refusal(spec: CommunityHubSpec, tier_allows: bool, largest: tuple[float, int]) -> Verdict | None:
    """Why the hub may not have this gateway (its tier, its archetype's largest server), or None."""
    if not enabled(spec):
        return None
    assert spec.dask is not None
    if not tier_allows:
        return Verdict.false("DaskNotInTier", f"{spec.community.membership} hubs may not run a Dask Gateway "
                                              f"(its HubClass's tiers.{spec.community.membership}.dask says no)")
    cpu, memory = largest
    for role, size in (("worker", spec.dask.worker), ("scheduler", spec.dask.scheduler)):
        if size.cores > cpu or parse_memory(size.memory) > memory:
            return Verdict.false("DaskExceedsLimits",
                                 f"a Dask {role} of {size.cores} cores and {size.memory} exceeds the largest server "
                                 f"of a {spec.community.archetype} hub ({cpu} cores, {memory // 2**30}Gi)")
    return None


def tier_default(membership: str, hub_class: HubClassSpec | None) -> bool:
    """Essential hubs get no gateway unless their class says so; the others do unless it says no."""
    own = getattr(hub_class.tiers, membership) if hub_class is not None else None
    return own.dask if own is not None else membership != "essential"
