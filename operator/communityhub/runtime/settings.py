"""Operator settings, read once from ``CHUB_*`` environment variables (the Helm chart sets them).

Each field ``x`` is read from ``CHUB_X``; docs/operations.md lists them with their meaning.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

#: Where Kubernetes mounts a pod's ServiceAccount token (and its CA and namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class Settings(BaseModel):
    namespace: str = "communityhub-system"
    #: The operator's ServiceAccount (in ``namespace``) and the ClusterRole it binds to itself in each hub
    #: namespace on its own cluster: its rights there and only there. Empty role: no binding (an operator run
    #: with an admin's kubeconfig).
    service_account: str = "communityhub-operator"
    hub_role: str = "communityhub-operator-hub"
    #: One active replica: a Lease in ``namespace``; a standby takes over within lease_seconds of a killed leader.
    leader_election: bool = True
    leader_lease: str = "communityhub-operator"
    leader_lease_seconds: float = Field(default=15, ge=2)
    leader_renew_seconds: float = Field(default=5, gt=0)
    #: Shards (communityhub.runtime.sharding): this process serves the hubs labelled hubs.2i2c.org/shard=<shard>,
    #: with its own Lease (leader_lease-shard-<shard>) and its own helm_concurrency. One shard: every hub.
    shards: int = Field(default=1, ge=1)
    shard: int = Field(default=0, ge=0)
    #: The hub chart: ``chart_name`` in this Helm repository; empty: ``chart_name`` is a chart archive (.tgz)
    #: or directory on disk, the stand-in for offline machines.
    chart_repository: str = "https://hub.jupyter.org/helm-chart/"
    chart_name: str = "jupyterhub"
    chart_version: str = "4.4.0"
    #: The Dask Gateway chart of daskhubs (spec.dask), the same way; its CRDs and controller are the provider's,
    #: installed once per cluster in dask_controller_namespace (docs/operations.md).
    dask_chart_repository: str = "https://helm.dask.org"
    dask_chart_name: str = "dask-gateway"
    dask_chart_version: str = "2026.3.0"
    dask_controller_namespace: str = "dask-gateway-system"
    #: The home server of classes with sharedStorage.homeServer (jupyterhub-home-nfs), the same way; an oci://
    #: name with an empty repository is pulled by helm itself.
    home_nfs_chart_repository: str = ""
    home_nfs_chart_name: str = "oci://ghcr.io/2i2c-org/jupyterhub-home-nfs/jupyterhub-home-nfs"
    home_nfs_chart_version: str = "1.2.1-0.dev.git.1.h1c81b4b"
    #: The image builder of hubs with spec.binder (binderhub-service), the same way.
    binder_chart_repository: str = "https://2i2c.org/binderhub-service/"
    binder_chart_name: str = "binderhub-service"
    binder_chart_version: str = "0.1.0-0.dev.git.336.hca79dc0"
    helm: str = "helm"
    helm_timeout_seconds: float = Field(default=600, gt=0)
    #: At most this many helm processes at once (every hub, every cluster).
    helm_concurrency: int = Field(default=8, ge=1)
    #: Where charts fetched from a repository are kept (one fetch per chart version).
    chart_cache: str = str(Path(tempfile.gettempdir()) / "communityhub-charts")
    #: Paths of the chart's values (dotted, comma-separated) that spec.hub.values may set besides the open
    #: ones (policy.OPEN_VALUE_PATHS); `*`: any (only where every hub author is trusted).
    hub_values_allowed: str = ""
    #: How long a deployed release may take to become Available before HubReady turns False with the cause.
    rollout_deadline_seconds: float = Field(default=600, gt=0)
    #: A release's Deployments missing this long after its deploy were deleted outside the operator: it deploys
    #: the release again (helm's three-way merge makes them anew). Shorter, and a watch that lags behind helm
    #: under load would look like drift.
    drift_grace_seconds: float = Field(default=30, ge=0)
    #: After a release is Available, HubReady waits for the hub's own /hub/health (at the hub API's address,
    #: see hub_api_url) to answer, and a Ready hub that stops answering turns False. Off only where the operator
    #: cannot reach hubs (fake nodes: the local demo, benchmarks).
    hub_health_probe: bool = True
    #: The serving check (ServingUsers; delivery/serving.py): a HubClass turns it off for its hubs
    #: (spec.servingCheck.enabled), this turns it off for every hub (benchmarks, planes of fake nodes).
    serving_check: bool = True
    #: An HTTP proxy into the pod network of the operator's own cluster, for the serving check where the operator
    #: runs outside it (the local plane's process pods offer one); empty: the check connects directly.
    cluster_http_proxy: str = ""
    resync_seconds: float = Field(default=300, gt=0)
    #: How often an unfinished FleetRollout looks at its hubs to start the next ones.
    rollout_seconds: float = Field(default=10, gt=0)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    health_port: int = Field(default=8081, ge=0, le=65535)
    #: terraform or tofu: the operator accepts either.
    terraform: str = "terraform"
    terraform_modules: str = str(Path(__file__).resolve().parents[3] / "terraform" / "modules")
    terraform_workdir: str = str(Path(tempfile.gettempdir()) / "communityhub-terraform")
    terraform_timeout_seconds: float = Field(default=1800, gt=0)
    #: Inputs of the cloud modules (var.extra) that are the provider's, not a hub's: the GCP project of
    #: provider-account clusters (a hub's spec.placement.dedicated.project wins), the billing account their
    #: budget watches, and who gets the AWS and Azure budgets' alerts.
    #: Where the provider's own cloud credentials (provider-account clusters) come from: "secret", the Secret
    #: <provider_credentials_secret_prefix><cloud> in the operator's namespace (the cloud's credential variables,
    #: as a customer's), or "workload-identity", the cloud identity of the operator's pod (its federation
    #: variables pass to Terraform; GKE's metadata server needs none).
    provider_credentials: Literal["secret", "workload-identity"] = "secret"
    provider_credentials_secret_prefix: str = "communityhub-cloud-"
    gcp_project: str = ""
    gcp_billing_account: str = ""
    budget_email: str = ""
    terraform_concurrency: int = Field(default=4, ge=1)
    #: Terraform runs in a Landlock sandbox that cannot read the operator's credentials (runtime/sandbox.py):
    #: its ServiceAccount token directory, the files of its KUBECONFIG, and terraform_hidden_paths (comma-separated).
    #: false only where Terraform may read them (a kernel without Landlock, and nobody's credentials but yours).
    terraform_sandbox: bool = True
    terraform_hidden_paths: str = ""
    #: Terraform's kubernetes backend (state Secrets, lock Leases in ``namespace``) authenticates as this
    #: ServiceAccount, with a token the operator asks for each run: never as the operator. Empty: as the operator
    #: (its KUBECONFIG or in-cluster identity, which the sandbox then leaves readable; development only).
    terraform_state_service_account: str = "communityhub-terraform-state"
    #: Lifetime of the operator's own tokens for dedicated clusters (TokenRequest; the API's minimum is 600 s),
    #: and how long before their end the next one is asked for (0: a third of the lifetime).
    cluster_token_seconds: int = Field(default=86400, ge=600)
    cluster_token_renew_seconds: float = Field(default=0, ge=0)
    #: Where the operator's own cluster (shared cluster `local`) runs, for the buckets of the hubs on it: its
    #: cloud (gcp, aws, azure, local), region, and for AWS and Azure its cluster name (and resource group).
    #: Other shared clusters say it in their registration Secret (keys cloud, region, project, clusterName,
    #: resourceGroup). Empty: hubs on it get no buckets (EnvironmentReady=False BucketsUnavailable).
    own_cluster_cloud: str = ""
    own_cluster_region: str = ""
    own_cluster_name: str = ""
    own_cluster_resource_group: str = ""
    #: For buckets in `cloud: local`: an S3-compatible server (the tests start moto's on 127.0.0.1).
    local_s3_endpoint: str = ""
    #: For `cloud: local` (development and tests): the kubeconfig of the control plane the local module hands back.
    local_cluster_kubeconfig: str = ""
    #: For `cloud: local`: how long the module pretends cluster creation takes.
    local_provision_seconds: int = Field(default=0, ge=0)

    #: Timeout of the operator's HTTP reads (OIDC discovery, the hubs' REST API).
    http_timeout_seconds: float = Field(default=10, gt=0)
    #: A PEM bundle trusted besides the system's CAs (SMTP, OIDC issuers, hub APIs); empty: the system's only.
    extra_ca_file: str = ""
    #: Let the operator's HTTP reads reach loopback, link-local and private addresses where a tenant names the host
    #: (an OIDC issuer, a hub's domain): only where those are the provider's own (the local plane).
    http_allow_private: bool = False
    #: How long an OIDC issuer's discovered endpoints are reused.
    oidc_discovery_seconds: float = Field(default=3600, ge=0)

    #: SMTP server of the DELIVERED email; empty: no email is sent (Delivered stays False, EmailNotConfigured).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    #: Secret in the operator's namespace with keys username and password; empty: no SMTP login.
    smtp_credentials_secret: str = ""
    smtp_from: str = "CommunityHub <hubs@communityhub.local>"
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    #: Where communities get help, named in the DELIVERED email.
    support_url: str = ""
    support_email: str = ""

    #: Metering of Ready hubs (usage and cost annotations): seconds between two meterings of a hub;
    #: 0 turns metering off (billing annotations from the spec are still written).
    meter_seconds: float = Field(default=900, ge=0)
    #: The usage time is rewritten without a change of figures only when older than this.
    usage_refresh_seconds: float = Field(default=86400, ge=0)
    #: The hub's REST API, a template with {domain}, {namespace} (the hub's) and {cluster}; empty: the hub
    #: Service for hubs on the operator's own cluster, https://<domain>/hub/api for others.
    hub_api_url: str = ""
    #: A YAML price catalog (cloud -> region -> machine type -> USD/hour) merged over the shipped one.
    price_catalog: str = ""
    #: Diagnostics: tracemalloc on, and each SIGUSR1 writes the largest allocations here (runtime/profiling.py).
    memory_profile: str = ""
    #: Tests only: a file with an RFC 3339 time that guards and metering take for now (communityhub.runtime.clock).
    clock_file: str = ""
    #: The cloud of nodes that neither carry a hubs.2i2c.org/cloud label nor a known providerID scheme.
    default_cloud: str = "gcp"

    @field_validator("extra_ca_file")
    @classmethod
    def _readable_bundle(cls, value: str) -> str:
        """Refused at start-up rather than at each hub's first TLS connection."""
        if value and not Path(value).is_file():
            raise ValueError(f"CA bundle {value} does not exist")
        return value

    @model_validator(mode="after")
    def _shard_among_shards(self) -> Settings:
        if self.shard >= self.shards:
            raise ValueError(f"CHUB_SHARD={self.shard} with CHUB_SHARDS={self.shards}: shards are 0 to "
                             f"{self.shards - 1}")
        return self

    @model_validator(mode="after")
    def _local_chart_exists(self) -> Settings:
        """A local chart that is not there is refused at start-up, not at every hub's helm run."""
        if not self.chart_repository and not Path(self.chart_name).exists():
            raise ValueError(f"CHUB_CHART_REPOSITORY is empty, so CHUB_CHART_NAME must be a chart archive or "
                             f"directory, and {self.chart_name} does not exist")
        return self

    @property
    def terraform_hidden(self) -> list[str]:
        """What Terraform may not read: the operator's own credentials (none when the sandbox is off, and not the
        KUBECONFIG where the state backend still authenticates as the operator)."""
        if not self.terraform_sandbox:
            return []
        hidden = [SERVICE_ACCOUNT_DIR]
        if self.terraform_state_service_account:
            hidden += [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        return [*hidden, *(p.strip() for p in self.terraform_hidden_paths.split(",") if p.strip())]

    @property
    def hub_values_paths(self) -> list[str]:
        return [p.strip() for p in self.hub_values_allowed.split(",") if p.strip()]

    def own_cluster_location(self) -> dict[str, str]:
        """The operator's own cluster as a shared cluster's registration says where it runs."""
        return {"cloud": self.own_cluster_cloud, "region": self.own_cluster_region, "project": self.gcp_project,
                "clusterName": self.own_cluster_name, "resourceGroup": self.own_cluster_resource_group}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {}
        for name in cls.model_fields:
            key = f"CHUB_{name.upper()}"
            if key in env:
                values[name] = env[key]
        return cls.model_validate(values)
