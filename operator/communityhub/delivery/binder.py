"""A hub's image builder (spec.binder), as the real binderhub-service chart takes it, and what it may reach (pure).

binderhub-service runs BinderHub as a service of the hub's own JupyterHub: one release in the hub's namespace,
installed after the hub (its JupyterHub service token lives in the hub's Secret, as the Dask gateway's does).
Users build an image from a repository when they start a server (a profile's imageBuilding, which the spawn
form's "build" choice sends to /services/binder/), pushed to the registry the HubClass names, under a prefix of
the hub's own. Builds talk to a docker API that runs privileged (a DaemonSet of the chart, dockerd with its
sockets under hostPath /var/run/<namespace>-<release>/docker-api), which Pod Security's ``baseline`` forbids.

So a hub namespace with builds is labelled :data:`BUILDS_LABEL`: Pod Security is ``privileged`` there, and the
operator's ValidatingAdmissionPolicy ``communityhub-builds`` (helm chart, rbac.yaml) puts back what baseline
says for every pod of the namespace, but for two exceptions that are this hub's alone: the DaemonSet
controller's pods may be privileged and mount the release's own docker-api directories (:func:`docker_paths`),
on the hub's build pool (:data:`POOL_ANNOTATION`); BinderHub's build pods may mount the socket there, on the pool.
Nothing else of the namespace (the hub, its users' servers) may be privileged or mount a host path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import BinderClass, CommunityHubSpec, HubClassSpec
from communityhub.delivery import render

#: The JupyterHub service BinderHub is (its token and OAuth client: the JupyterHub chart's hub Secret).
SERVICE = "binder"
CLIENT_ID = f"service-{SERVICE}"
BASE_URL = f"/services/{SERVICE}/"
PORT = 8090
#: On a hub namespace with builds (read by the admission policy, written by the operator only).
BUILDS_LABEL = "hubs.2i2c.org/builds"
RELEASE_ANNOTATION = "hubs.2i2c.org/binder-release"
POOL_ANNOTATION = "hubs.2i2c.org/build-pool"
#: Pod Security of a hub namespace with builds: the admission policy enforces the rest of baseline.
POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "baseline",
    "pod-security.kubernetes.io/audit": "restricted",
}


def enabled(spec: CommunityHubSpec) -> bool:
    return spec.binder is not None and spec.binder.enabled


def landing(spec: CommunityHubSpec) -> bool:
    """A Binder hub: its Binder page is its landing page."""
    return enabled(spec) and spec.binder is not None and spec.binder.landing_page


def public(spec: CommunityHubSpec) -> bool:
    """A Binder hub with no login: BinderHub makes a user per launch, and the server's token is the visitor's."""
    return landing(spec) and spec.auth.provider == "none"


def builder(release: str) -> str:
    """BinderHub's Deployment, Service and ServiceAccount (the chart's names for the release)."""
    return f"{release}-binderhub"


def docker_api(release: str) -> str:
    """The docker API's DaemonSet."""
    return f"{release}-docker-api"


def push_secret(release: str) -> str:
    """The docker client config build pods push with (the chart's Secret)."""
    return f"{release}-build-pods-docker-config"


def docker_paths(namespace: str, release: str) -> tuple[str, str]:
    """The host directories of the release's docker API (its data, its socket), as the chart names them."""
    return f"/var/lib/{namespace}-{release}/docker-api", f"/var/run/{namespace}-{release}/docker-api"


def _pair(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key, value


def image_prefix(binder: BinderClass, namespace: str, name: str, cluster_namespace: str) -> str:
    return str(render.per_hub(binder.registry.image_prefix, namespace, name, cluster_namespace=cluster_namespace))


def credentials_secret(binder: BinderClass, namespace: str, name: str) -> str:
    return str(render.per_hub(binder.registry.credentials_secret, namespace, name))


def pool_selector(binder: BinderClass, namespace: str, name: str) -> dict[str, str]:
    """The build pool's labels, the hub's names filled in."""
    return dict(render.per_hub(dict(binder.build_pool.node_selector), namespace, name))


def pool_text(selector: Mapping[str, str]) -> str:
    """The pool as the namespace annotation carries it (and messages show it): k=v,k=v."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None, class_name: str | None) -> Verdict | None:
    """Why the hub may not build images (its class has no builder), or None."""
    if not enabled(spec) or (hub_class is not None and hub_class.binder is not None):
        return None
    where = f"HubClass {class_name}" if class_name else "the hub has no HubClass, and"
    return Verdict.false("BuildsNotInClass",
                         f"{where} allows no image building (its spec.binder is not set): builds run a privileged "
                         f"docker API on a build pool of the provider's, which only a class that names one has")


def pool_refusal(binder: BinderClass, selector: Mapping[str, str], nodes: list[Mapping[str, Any]]
                 ) -> Verdict | None:
    """Why the hub's build pool (``selector``) cannot take builds (none of its nodes, one not tainted), or None: the
    docker API runs privileged there, so every node of it must keep other pods off."""
    shown = pool_text(selector)
    pool = [n for n in nodes if all(((n.get("metadata") or {}).get("labels") or {}).get(k) == v
                                    for k, v in selector.items())]
    if not pool:
        return Verdict.false("BuildPoolMissing", f"no node of the cluster has the build pool's labels {shown} "
                                                 f"(HubClass binder.buildPool)")
    taint_key, taint_value = _pair(binder.build_pool.taint)
    bare = sorted(str((n.get("metadata") or {}).get("name")) for n in pool if not any(
        t.get("key") == taint_key and (t.get("value") or "") == taint_value and t.get("effect") == "NoSchedule"
        for t in (n.get("spec") or {}).get("taints") or []))
    if bare:
        return Verdict.false("BuildPoolUntainted",
                             f"node(s) {', '.join(bare[:5])} of the build pool ({shown}) lack the "
                             f"NoSchedule taint {binder.build_pool.taint}: the docker API runs privileged there, so "
                             f"the pool must keep other pods off")
    return None


def namespace_metadata(spec: CommunityHubSpec, hub_class: HubClassSpec | None, release: str, namespace: str,
                       name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations a hub namespace with builds carries ({} and {} without), over its Pod Security
    labels: what the admission policy reads (the pool as k=v,k=v)."""
    if not enabled(spec) or hub_class is None or hub_class.binder is None:
        return {}, {}
    return ({**POD_SECURITY, BUILDS_LABEL: "true"},
            {RELEASE_ANNOTATION: release,
             POOL_ANNOTATION: pool_text(pool_selector(hub_class.binder, namespace, name))})


def service_values(spec: CommunityHubSpec, binder: BinderClass, *, release: str, hub_url: str, prefix: str,
                   login: Mapping[str, str], pool: Mapping[str, str]) -> dict[str, Any]:
    """The values of the hub's binderhub-service release over the class's: its names, the hub it serves, where
    images go and with which login, and where builds and the docker API run (the build pool only)."""
    assert spec.binder is not None
    taint_key, taint_value = _pair(binder.build_pool.taint)
    on_pool = dict(pool)
    toleration = [{"key": taint_key, "operator": "Equal", "value": taint_value, "effect": "NoSchedule"}]
    server = binder.registry.server.rstrip("/")
    build: dict[str, Any] = {"node_selector": on_pool}
    config: dict[str, Any] = {
        # Its own page only on a Binder hub (else the spawn form's build choice is its only client); its own login
        # (through the hub's OAuth) unless the hub has none.
        "BinderHub": {"base_url": BASE_URL, "use_registry": True, "auth_enabled": not public(spec),
                      "enable_api_only_mode": not landing(spec), "image_prefix": prefix, "hub_url": hub_url,
                      "port": 8585},
        "KubernetesBuildExecutor": build,
        "DockerRegistry": {"url": server, "username": login["username"], "password": login["password"]},
    }
    if spec.binder.allowed_repositories:
        config["GitHubRepoProvider"] = {"allowed_specs": list(spec.binder.allowed_repositories)}
    wiring: dict[str, Any] = {
        "fullnameOverride": release,
        "networkPolicy": {"enabled": True},  # builds reach the internet, not the cluster's private ranges
        "rbac": {"create": True},  # the chart's Role: pods and their logs, in this namespace
        "serviceAccount": {"create": True},
        "ingress": {"enabled": False},  # through the hub's proxy, at /services/binder/
        "service": {"type": "ClusterIP", "port": PORT},
        "buildPodsRegistryCredentials": {"server": server, "username": login["username"],
                                         "password": login["password"]},
        "config": config,
        "extraEnv": [
            {"name": "JUPYTERHUB_API_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": render.HUB_SECRET, "key": f"hub.services.{SERVICE}.apiToken"}}},
            {"name": "JUPYTERHUB_CLIENT_ID", "value": CLIENT_ID},
            {"name": "JUPYTERHUB_API_URL", "value": render.HUB_API_URL},
            {"name": "JUPYTERHUB_BASE_URL", "value": "/"},
        ],
        "nodeSelector": {"hub.jupyter.org/node-purpose": "core"},
        "dockerApi": {"nodeSelector": on_pool, "tolerations": toleration},
    }
    return render.deep_merge(dict(binder.values), wiring)


def user_role_config() -> str:
    """hub.extraConfig: users may reach the builder (the spawn form calls it from their browser)."""
    return render.role_scopes_config("communityhub_binder_role", {"user": [f"access:services!service={SERVICE}"]})


#: hub.extraConfig of a Binder hub: its servers run the image BinderHub built for the launch (user_options'
#: image, applied where KubeSpawner applies a profile's). With no login the server's token is the one BinderHub
#: handed the visitor (user_options' token), and the server starts as a plain Jupyter server (every image
#: repo2docker builds has one; jupyterhub-singleuser it may lack). The spawner the chart or a class's own
#: extraConfig chose is kept, under this one.
BINDER_SPAWNER_CONFIG = """\
import importlib

from tornado import web


def communityhub_binder_spawner(base, public):
    if not isinstance(base, type):
        module, _, name = (base if isinstance(base, str) and "." in base else "kubespawner.KubeSpawner").rpartition(".")
        base = getattr(importlib.import_module(module), name)

    class CommunityHubBinderSpawner(base):
        async def load_user_options(self):
            await super().load_user_options()
            options = self.user_options or {}
            if "image" not in options:
                raise web.HTTPError(400, "this hub's servers are launched from its Binder page")
            if public and "token" not in options:
                raise web.HTTPError(400, "a launch from the Binder page carries its token")
            self.image = options["image"]

        def get_args(self):
            if not public:
                return super().get_args()
            base_url = self.server.base_url if self.server else self.user.url  # as Spawner.get_env guards it
            args = ["--ip=0.0.0.0", f"--port={self.port}", f"--ServerApp.base_url={base_url}",
                    f"--ServerApp.token={self.user_options['token']}", "--ServerApp.trust_xheaders=True"]
            if self.default_url:
                args.append(f"--ServerApp.default_url={self.default_url}")
            args += list(self.args)
            # Notebook servers before Jupyter Server read the same settings as NotebookApp.
            return args + [a.replace("--ServerApp.", "--NotebookApp.", 1) for a in args if a.startswith("--ServerApp.")]

    return CommunityHubBinderSpawner

"""


def binder_spawner_config(public_hub: bool) -> str:
    return (BINDER_SPAWNER_CONFIG
            + f"c.JupyterHub.spawner_class = communityhub_binder_spawner(c.JupyterHub.spawner_class, {public_hub!r})\n")


#: What BinderHub may do in the hub: start servers, and with no login make a user for each launch.
SERVICE_SCOPES = {True: ["servers", "admin:users"], False: ["servers", "read:users"]}


def hub_values(spec: CommunityHubSpec, hub_class: HubClassSpec | None, release: str, hub_url: str
               ) -> dict[str, Any]:
    """What the JupyterHub release adds for a hub with builds its class allows: BinderHub as a service (the chart
    makes its token and OAuth client), proxied at /services/binder/, and the users' access to it. A Binder hub
    also lands on the Binder page, lets BinderHub start its servers, and runs the image of each launch."""
    if not enabled(spec) or hub_class is None or hub_class.binder is None:
        return {}
    hub: dict[str, Any] = {
        "services": {SERVICE: {"display": False, "url": f"http://{builder(release)}:{PORT}",
                               "oauth_client_id": CLIENT_ID, "oauth_no_confirm": True,
                               "oauth_redirect_uri": f"{hub_url.rstrip('/')}{BASE_URL}oauth_callback"}},
        "extraConfig": {"communityhub-binder": user_role_config()},
    }
    if landing(spec):
        hub["config"] = {"JupyterHub": {"default_url": BASE_URL}}
        hub["loadRoles"] = {"communityhub-binder-launch": {"services": [SERVICE],
                                                           "scopes": SERVICE_SCOPES[public(spec)]}}
        hub["extraConfig"]["communityhub-binder-spawner"] = binder_spawner_config(public(spec))
    return {"hub": hub}
