"""Every per-hub name, derived in one place, so two distinct hubs can never share one.

A hub is identified by ``namespace/name`` (neither may contain ``/``, so the pair is unambiguous). Each
name the operator gives a hub's objects (its namespace on the target cluster, the Helm release, the
Terraform state Secret and its lock Lease, the dedicated cluster's kubeconfig Secret, the cluster's
name stem) carries a 48-bit digest of that identity, and a readable prefix cut to fit.

Names are recorded in ``status.names`` the first time they are used and read back from there, so a
hub created by an earlier operator (whose names had no digest) keeps the names its objects have:
nothing is renamed, no release reinstalled, no cluster recreated.

Objects the operator creates carry :data:`OWNER` (``namespace/name``); before it writes into or
deletes such an object it checks that annotation (:func:`ownership`), so even a name that collides
(a legacy one, or a namespace made by hand) is never taken over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import Any

#: Annotation naming the CommunityHub (namespace/name) an object belongs to.
OWNER = "hubs.2i2c.org/owner"
DIGEST_CHARS = 12
#: The Terraform state's secret_suffix becomes a label value (<= 63) and the stem of three names.
SLUG_MAX = 52
#: Helm's limit on release names.
RELEASE_MAX = 53
#: A cluster's name is "<stem>-<region>"; GKE allows 40 characters, so the stem stays short.
CLUSTER_STEM_MAX = 26
#: Terraform's kubernetes backend refuses a secret_suffix ending in -<number> (it numbers workspaces so), and a
#: suffix ends in the 12-hex digest, all decimal about once in 280 hubs. Such a suffix never held state (the
#: backend refused it before writing any), so its number's first digit becomes a letter that is not hex: the
#: result cannot equal another hub's suffix, and every suffix the backend accepts stays as it is.
_NUMBERED = re.compile(r"-([0-9])([0-9]*)$")
_NOT_HEX = "ghijklmnop"
LEGACY_HUB_LABEL = "hubs.2i2c.org/hub"
LEGACY_HUB_NAMESPACE_LABEL = "hubs.2i2c.org/hub-namespace"


#: In every hub namespace on a shared cluster: the operator's ResourceQuota and LimitRange (delivery/capacity.py).
QUOTA = "communityhub-quota"
LIMIT_RANGE = "communityhub-limits"
#: The claim on a hub's domain, a ConfigMap in the operator's namespace (one name per domain, so the API server's
#: create is the lock), and the label that lists a hub's claims by its CommunityHub's uid.
DOMAIN_CLAIM_LABEL = "hubs.2i2c.org/domain-claim-uid"


def domain_claim(domain: str) -> str:
    """The claim's name: the domain's digest (a domain is longer than a name may be, and may hold no hint of the
    hub that claims it)."""
    return "domain-" + hashlib.sha256(domain.lower().encode()).hexdigest()[:40]


def owner(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def digest(namespace: str, name: str) -> str:
    return hashlib.sha256(owner(namespace, name).encode()).hexdigest()[:DIGEST_CHARS]


def _with_digest(readable: str, suffix: str, limit: int) -> str:
    """``readable`` cut so that ``<readable>-<suffix>`` fits ``limit``; still a DNS label."""
    head = re.sub(r"[^a-z0-9-]+", "-", readable.lower())[: limit - len(suffix) - 1].strip("-")
    return f"{head}-{suffix}" if head else suffix


@dataclasses.dataclass(frozen=True)
class HubNames:
    #: The hub's namespace on its target cluster.
    namespace: str
    #: The Helm release (unique per cluster too: the chart names cluster-scoped objects after it).
    release: str
    #: Terraform's hub_name: the stem of a dedicated cluster's name.
    cluster_stem: str

    @property
    def slug(self) -> str:
        return self.namespace.removeprefix("hub-")

    @property
    def state_suffix(self) -> str:
        """The kubernetes backend's secret_suffix (and label value): the slug, valid for the backend."""
        return valid_state_suffix(self.slug[:SLUG_MAX])

    @property
    def state_secret(self) -> str:
        """The Terraform kubernetes backend's state Secret (in the operator's namespace)."""
        return f"tfstate-default-{self.state_suffix}"

    @property
    def lock_lease(self) -> str:
        """The kubernetes backend's lock: a Lease named after the state Secret."""
        return f"lock-{self.state_secret}"

    @property
    def dask_release(self) -> str:
        """The hub's Dask Gateway release, beside its JupyterHub release (within Helm's 53 characters)."""
        return f"{self.release[:48].rstrip('-')}-dask"

    @property
    def binder_release(self) -> str:
        """The hub's image builder (binderhub-service), beside its JupyterHub release (within Helm's 53)."""
        return f"{self.release[:46].rstrip('-')}-binder"

    @property
    def home_release(self) -> str:
        """The hub's home server (jupyterhub-home-nfs), beside its JupyterHub release (within Helm's 53)."""
        return f"{self.release[:47].rstrip('-')}-homes"

    @property
    def home_volume(self) -> str:
        """The PersistentVolume of the hub's homes on its home server (cluster-scoped: unique as the release is)."""
        return f"{self.release}-homes"

    @property
    def buckets_state_suffix(self) -> str:
        """The buckets' own Terraform state (a shared hub has no cluster state; a dedicated one keeps them apart)."""
        return f"{self.state_suffix[:SLUG_MAX]}-buckets"

    @property
    def buckets_state_secret(self) -> str:
        return f"tfstate-default-{self.buckets_state_suffix}"

    @property
    def buckets_lock_lease(self) -> str:
        return f"lock-{self.buckets_state_secret}"

    def bucket(self, name: str) -> str:
        """The cloud's name of the hub's bucket ``name`` (<= 47 characters: a DNS label, as GCS and S3 ask)."""
        return f"{self.cluster_stem}-{name}"

    @property
    def user_service_account(self) -> str:
        """The users' ServiceAccount in the hub's namespace, which the buckets' cloud identity trusts."""
        return "user"

    @property
    def kubeconfig_secret(self) -> str:
        return f"kubeconfig-{self.slug}"[:253]

    @property
    def cluster_access_namespace(self) -> str:
        """Where the operator's identity lives in the hub's dedicated cluster (communityhub.delivery.cluster_access):
        its ServiceAccount and its tokens' Secrets, removed together by deleting this namespace."""
        return f"operator-{self.slug}"[:63]

    @property
    def cluster_access_binding(self) -> str:
        """The ClusterRoleBinding of that ServiceAccount (owned by that namespace, so it goes with it)."""
        return f"communityhub-{self.slug}"

    @property
    def credentials_secret(self) -> str:
        """The operator's copy of a customer's cloud credentials, kept until the cluster is destroyed."""
        return f"credentials-{self.slug}"[:253]

    @property
    def cilogon_client_secret(self) -> str:
        """The CILogon OAuth client the operator registered for the hub (HubClass cilogonClients), in the operator's
        namespace: what it deletes with the hub."""
        return f"cilogon-{self.slug}"[:253]

    def to_status(self) -> dict[str, str]:
        return {"namespace": self.namespace, "release": self.release, "clusterStem": self.cluster_stem}


def valid_state_suffix(slug: str) -> str:
    """``slug``, unless it ends in -<number>: then that number's first digit is a letter (see _NUMBERED)."""
    return _NUMBERED.sub(lambda m: f"-{_NOT_HEX[int(m.group(1))]}{m.group(2)}", slug)


def derive(namespace: str, name: str) -> HubNames:
    """The names of a new hub."""
    d = digest(namespace, name)
    return HubNames(
        namespace="hub-" + _with_digest(f"{namespace}-{name}", d, SLUG_MAX),
        release=_with_digest(name, d, RELEASE_MAX),
        cluster_stem=_with_digest(name, d, CLUSTER_STEM_MAX),
    )


def legacy_namespace(namespace: str, name: str) -> str:
    """The hub namespace of operators before names carried a digest (kept for their hubs)."""
    candidate = f"hub-{namespace}-{name}"
    if len(candidate) <= 63:
        return candidate
    short = hashlib.sha256(owner(namespace, name).encode()).hexdigest()[:8]
    return f"{candidate[:54].rstrip('-')}-{short}"


def resolve(namespace: str, name: str, status: Mapping[str, Any]) -> HubNames:
    """The hub's names: as recorded in status; for a hub of an earlier operator, the names it used
    (its release is the hub's name, its namespace what status.cluster says); else new ones."""
    recorded = status.get("names") or {}
    if recorded.get("namespace") and recorded.get("release") and recorded.get("clusterStem"):
        return HubNames(recorded["namespace"], recorded["release"], recorded["clusterStem"])
    release = (status.get("release") or {}).get("name")
    cluster = status.get("cluster") or {}
    if release or cluster.get("namespace"):
        return HubNames(cluster.get("namespace") or legacy_namespace(namespace, name), release or name, name)
    return derive(namespace, name)


def ownership(meta: Mapping[str, Any], namespace: str, name: str) -> str | None:
    """None when the object may be used by hub ``namespace/name``; else why not.

    Ours: it names this hub in :data:`OWNER`, or (made by an earlier operator, before that annotation)
    its hub labels are this hub's. Anything else, another hub's or a stranger's, is not touched."""
    annotations = meta.get("annotations") or {}
    kind_name = meta.get("name", "?")
    recorded = annotations.get(OWNER)
    if recorded is not None:
        if recorded == owner(namespace, name):
            return None
        return f"{kind_name} belongs to CommunityHub {recorded}, not to {owner(namespace, name)}"
    labels = meta.get("labels") or {}
    if labels.get(LEGACY_HUB_LABEL) == name and labels.get(LEGACY_HUB_NAMESPACE_LABEL) == namespace:
        return None
    return f"{kind_name} exists and was not made for CommunityHub {owner(namespace, name)}"
