"""Step 1 for dedicated placement, ClusterReady: a cluster of the hub's own, through Terraform.

The root module is generated per hub in a scratch directory: the cloud's module from
``terraform/modules/<cloud>`` and a ``kubernetes`` backend (state in a Secret of the operator's
namespace, so a restarted operator, or another replica, finds it). Plan, then apply only when the
plan changes something; the counts go into the condition. The kubeconfig output goes into a Secret
the hub step deploys with. Terraform runs only when the inputs change (their hash is in
``status.cluster.inputsHash``), so an idle resync runs no Terraform and writes nothing.

Customer-cloud credentials come from the hub's ``credentialsSecretRef`` and reach Terraform only
through its environment; the scratch directory is removed after every run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from lightkube import ApiError
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Secret

from communityhub import conditions, cost, metrics, policy, render
from communityhub.adapters import kube
from communityhub.adapters.terraform import StateLocked, TerraformError, TerraformRunner, base_env
from communityhub.conditions import Verdict
from communityhub.context import HubContext, Target, indexed
from communityhub.guards import estimate

KUBECONFIG_LABEL = "hubs.2i2c.org/cluster-kubeconfig"
_SEMAPHORES: dict[int, asyncio.Semaphore] = {}


def variables(ctx: HubContext) -> dict[str, Any]:
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    extra: dict[str, str] = {}
    if dedicated.cloud == "local":
        extra = {"kubeconfig_path": ctx.settings.local_cluster_kubeconfig,
                 "provision_seconds": str(ctx.settings.local_provision_seconds)}
    return {
        "hub_name": ctx.names.cluster_stem,
        "region": dedicated.region,
        "node_pools": [{"name": p.name, "machine_type": p.machine_type, "min": p.min, "max": p.max}
                       for p in dedicated.node_pools],
        "labels": {"hub": ctx.name, "hub-namespace": ctx.namespace, "archetype": ctx.spec.community.archetype,
                   "cost-center": render.label_value(ctx.spec.billing.cost_center or "none").lower()},
        "billing_account": dedicated.account,
        "extra": extra,
    }


def module_dir(ctx: HubContext) -> Path:
    assert ctx.spec.placement.dedicated is not None
    return Path(ctx.settings.terraform_modules) / ctx.spec.placement.dedicated.cloud


def inputs_hash(ctx: HubContext) -> str:
    """Changes when the variables or the module's code change."""
    digest = hashlib.sha256(json.dumps(variables(ctx), sort_keys=True).encode())
    for path in sorted(module_dir(ctx).glob("*.tf")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "sha256:" + digest.hexdigest()[:32]


ROOT_MODULE = """\
terraform {
  backend "kubernetes" {}
}

variable "hub_name" { type = string }
variable "region" { type = string }
variable "node_pools" { type = list(object({ name = string, machine_type = string, min = number, max = number })) }
variable "labels" { type = map(string) }
variable "billing_account" { type = string }
variable "extra" { type = map(string) }

module "cluster" {
  source          = "%(source)s"
  hub_name        = var.hub_name
  region          = var.region
  node_pools      = var.node_pools
  labels          = var.labels
  billing_account = var.billing_account
  extra           = var.extra
}

output "cluster_name" { value = module.cluster.cluster_name }
output "endpoint" { value = module.cluster.endpoint }
output "ca_certificate" { value = module.cluster.ca_certificate }
output "kubeconfig" {
  value     = module.cluster.kubeconfig
  sensitive = true
}
"""


async def _credentials_env(ctx: HubContext, for_destroy: bool = False) -> dict[str, str] | Verdict:
    """The customer's credentials for Terraform. Each apply keeps a copy in the operator's namespace, so a
    destroy still has them when the hub's own Secret went first (a GitOps prune deletes both at once)."""
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    if dedicated.account != "customer" or dedicated.credentials_secret_ref is None:
        return {}
    ref = dedicated.credentials_secret_ref.name
    local = ctx.clusters.get(None)
    try:
        data = await kube.read_secret(local, ref, ctx.namespace)
    except kube.SecretForbidden as err:
        if not for_destroy:
            return Verdict.false("SecretForbidden", str(err))
        data = None
    if not data and for_destroy:
        data = await kube.read_secret(local, ctx.names.credentials_secret, ctx.settings.namespace)
    if not data:
        return Verdict.false("CredentialsSecretNotFound",
                             f"Secret {ctx.namespace}/{ref} (placement.dedicated.credentialsSecretRef) not found or "
                             f"empty: its keys are the environment variables of the cloud's Terraform provider")
    env = policy.credential_env(dedicated.cloud, data, f"{ctx.namespace}/{ref}")
    if isinstance(env, dict) and not for_destroy:
        try:
            await kube.ensure_secret(local, ctx.names.credentials_secret, ctx.settings.namespace, data,
                                     render.MANAGED_BY, annotations=ctx.owner_annotations, check=ctx.ownership)
        except kube.NotOwned as err:
            return Verdict.false("NameConflict", f"{err}: the credentials are not kept for the destroy")
    return env


def _backend_config(ctx: HubContext) -> dict[str, str]:
    config = {"secret_suffix": ctx.names.state_suffix, "namespace": ctx.settings.namespace}
    kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if kubeconfig:
        config["config_path"] = kubeconfig
    else:
        config["in_cluster_config"] = "true"
    return config


def _stale(lock_created: dt.datetime | None, timeout: float) -> bool:
    """A lock older than the longest run the operator allows belongs to a run that is gone."""
    if lock_created is None:
        return False
    return dt.datetime.now(dt.UTC) - lock_created > dt.timedelta(seconds=timeout + 30)


async def _take_over(ctx: HubContext, lock_id: str) -> None:
    """Release a stale lock: the kubernetes backend's lock is a Lease whose holderIdentity is the lock ID.
    Deleted only while that same lock still holds it (what `terraform force-unlock` does, without needing
    an initialised working directory, which a locked state prevents)."""
    name = ctx.names.lock_lease
    client = ctx.clusters.get(None)
    try:
        lease = await client.get(Lease, name, namespace=ctx.settings.namespace)
    except ApiError as err:
        if kube.is_not_found(err):
            return
        raise
    if lease.spec is not None and lease.spec.holderIdentity == lock_id:
        await client.delete(Lease, name, namespace=ctx.settings.namespace)


class AwaitingApproval(Exception):
    """The plan is made and not applied: a person approves it first."""

    def __init__(self, plan: str) -> None:
        super().__init__(plan)
        self.plan = plan


async def _run_terraform(ctx: HubContext, runner: TerraformRunner, destroy: bool = False,
                         approved: Callable[[str], bool] | None = None) -> str:
    """init, plan, apply (or destroy); returns the plan's summary. With ``approved``, a plan that changes
    anything is applied only when it says yes to the plan's summary (else AwaitingApproval). Takes over a
    stale lock once."""
    for attempt in (1, 2):
        try:
            await runner.init(_backend_config(ctx))
            summary = await runner.plan("hub.tfplan", destroy=destroy)
            if not summary.empty and approved is not None and not approved(str(summary)):
                raise AwaitingApproval(str(summary))
            if not summary.empty:
                await runner.apply("hub.tfplan")
            return str(summary)
        except StateLocked as locked:
            if attempt == 2 or not _stale(locked.lock.created, ctx.settings.terraform_timeout_seconds):
                raise
            ctx.log.warning("taking over a stale terraform state lock", lock=locked.lock.id, who=locked.lock.who,
                            created=str(locked.lock.created))
            await _take_over(ctx, locked.lock.id)
    raise AssertionError("unreachable")


def _semaphore(ctx: HubContext) -> asyncio.Semaphore:
    key = ctx.settings.terraform_concurrency
    return _SEMAPHORES.setdefault(key, asyncio.Semaphore(key))


@contextlib.asynccontextmanager
async def _terraform(ctx: HubContext, credentials: dict[str, str]) -> AsyncIterator[TerraformRunner]:
    """A runner in a fresh scratch directory with the generated root module, within the operator's
    concurrency limit; the directory (and with it any credentials Terraform wrote) is removed after."""
    workdir = Path(ctx.settings.terraform_workdir) / ctx.names.slug
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, mode=0o700)
    (workdir / "main.tf").write_text(ROOT_MODULE % {"source": module_dir(ctx)})
    try:
        with metrics.WAITING_FOR_SLOT.labels("terraform").track_inprogress():
            await _semaphore(ctx).acquire()
        try:
            yield TerraformRunner(workdir=workdir, binary=ctx.settings.terraform,
                                  env=base_env(workdir, credentials),
                                  timeout=ctx.settings.terraform_timeout_seconds, variables=variables(ctx))
        finally:
            _semaphore(ctx).release()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def target_from_secret(ctx: HubContext) -> Target | None:
    secret_name = ctx.names.kubeconfig_secret
    kubeconfig = indexed(ctx.dedicated_kubeconfigs, secret_name)
    if kubeconfig is None:
        return None
    cluster = ctx.status.get("cluster") or {}
    return Target(cluster=cluster.get("name", ctx.names.cluster_stem), namespace=ctx.names.namespace,
                  kubeconfig=kubeconfig, endpoint=cluster.get("endpoint"), kubeconfig_secret=secret_name)


async def provision(ctx: HubContext) -> Verdict:
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    if dedicated.cloud == "local" and not ctx.settings.local_cluster_kubeconfig:
        return Verdict.false("LocalClusterNotConfigured",
                             "cloud local needs the operator setting CHUB_LOCAL_CLUSTER_KUBECONFIG (the kubeconfig "
                             "of a control plane started with `make cluster-up NAME=workload`)")
    wanted = inputs_hash(ctx)
    recorded = (ctx.status.get("cluster") or {}).get("inputsHash")
    if recorded == wanted:
        target = target_from_secret(ctx)
        if target is not None:
            ctx.target, ctx.inputs_hash = target, wanted
            # Unchanged: keep what the apply said (its counts), rather than rewriting the status every pass.
            prior = conditions.find(ctx.status.get("conditions") or [], conditions.CLUSTER_READY)
            if prior and prior.get("status") == "True" and prior.get("reason") == "ClusterProvisioned":
                return Verdict.true("ClusterProvisioned", str(prior.get("message", "")))
            return Verdict.true("ClusterProvisioned",
                                f"dedicated {dedicated.cloud} cluster {target.cluster} at {target.endpoint}")
    # The cost is in the status before Terraform applies anything; with requireApproval, a person approves it.
    figures = estimate.estimate(ctx.spec, cost.catalog(ctx.settings.price_catalog))
    assert figures is not None
    ctx.estimate = figures.to_status()
    approval = ctx.annotations.get(estimate.APPROVED)
    prior = ctx.status.get("estimate") or {}
    if dedicated.require_approval and prior.get("inputsHash") == wanted and prior.get("approvalId") \
            and prior.get("approvalId") == figures.approval_id(wanted, str(prior.get("plan"))) \
            and approval != prior["approvalId"]:
        ctx.estimate = prior  # planned already: nothing to run until someone approves
        return Verdict.unknown("AwaitingApproval", estimate.awaiting(
            figures, prior["approvalId"], str(prior.get("plan")), ctx.namespace, ctx.name))

    def approved(plan: str) -> bool:
        return approval == figures.approval_id(wanted, plan)

    if not dedicated.require_approval and prior != ctx.estimate:
        # Written now, not with the pass's status after the apply: the figure is there before any money is spent.
        try:
            await kube.patch_hub_status(ctx.clusters.get(None), ctx.namespace, ctx.name, {"estimate": ctx.estimate})
        except ApiError as err:
            return Verdict.false("KubernetesError", f"recording the cost estimate failed: {err.status.code} "
                                                    f"{err.status.message}")
        ctx.status = {**ctx.status, "estimate": ctx.estimate}

    credentials = await _credentials_env(ctx)
    if isinstance(credentials, Verdict):
        return credentials
    try:
        async with _terraform(ctx, credentials) as runner:
            ctx.log.info("terraform apply", cloud=dedicated.cloud, region=dedicated.region)
            summary = await _run_terraform(ctx, runner, approved=approved if dedicated.require_approval else None)
            outputs = await runner.outputs()
    except AwaitingApproval as waiting:
        approval_id = figures.approval_id(wanted, waiting.plan)
        ctx.estimate = figures.to_status(wanted, waiting.plan, approval_id)
        ctx.log.info("terraform plan waits for approval", plan=waiting.plan, approval_id=approval_id)
        return Verdict.unknown("AwaitingApproval", estimate.awaiting(
            figures, approval_id, waiting.plan, ctx.namespace, ctx.name))
    except StateLocked as locked:
        return Verdict.unknown("StateLocked", f"{locked.summary}; retrying (a lock older than "
                                              f"{ctx.settings.terraform_timeout_seconds + 30:.0f}s is taken over)")
    except TerraformError as err:
        ctx.log.warning("terraform failed", command=err.command, error=err.summary)
        return Verdict.false("TerraformFailed", f"terraform {err.command} failed: {err.summary}")
    secret_name = ctx.names.kubeconfig_secret
    try:
        await kube.ensure_secret(
            ctx.clusters.get(None), secret_name, ctx.settings.namespace,
            {"kubeconfig": outputs["kubeconfig"].encode()},
            {KUBECONFIG_LABEL: "true", render.HUB_LABEL: render.label_value(ctx.name),
             render.HUB_NAMESPACE_LABEL: render.label_value(ctx.namespace)},
            annotations=ctx.owner_annotations, check=ctx.ownership)
    except kube.NotOwned as err:
        return Verdict.false("NameConflict", f"{err}: the cluster's kubeconfig is not stored")
    ctx.target = Target(cluster=outputs["cluster_name"], namespace=ctx.names.namespace,
                        kubeconfig=outputs["kubeconfig"], endpoint=outputs["endpoint"], kubeconfig_secret=secret_name)
    ctx.inputs_hash = wanted
    if dedicated.require_approval:
        ctx.estimate = figures.to_status(wanted, summary, approval)
    return Verdict.true("ClusterProvisioned",
                        f"terraform applied ({summary}); dedicated {dedicated.cloud} cluster "
                        f"{outputs['cluster_name']} at {outputs['endpoint']}")


#: Set to "true" on a CommunityHub being deleted whose Terraform state is lost: its cluster is abandoned.
ABANDON_CLUSTER = "hubs.2i2c.org/abandon-cluster"


async def destroy(ctx: HubContext) -> Verdict | None:
    """terraform destroy, then the state, lock, kubeconfig and credentials; None when all is gone. A hub
    whose cluster was applied but whose state is gone keeps its finalizer until a human decides."""
    credentials = await _credentials_env(ctx, for_destroy=True)
    if isinstance(credentials, Verdict):
        return credentials
    local = ctx.clusters.get(None)
    applied = bool((ctx.status.get("cluster") or {}).get("inputsHash"))
    if await kube.read_secret(local, ctx.names.state_secret, ctx.settings.namespace) is None:
        if applied and ctx.annotations.get(ABANDON_CLUSTER) != "true":
            cluster = (ctx.status.get("cluster") or {}).get("name", "?")
            return Verdict.false(
                "StateMissing",
                f"the Terraform state (Secret {ctx.settings.namespace}/{ctx.names.state_secret}) is gone, so "
                f"cluster {cluster} cannot be destroyed and may still exist (and cost money). Restore the state "
                f"Secret, or delete the cluster by hand and annotate this CommunityHub {ABANDON_CLUSTER}=true")
    else:
        try:
            async with _terraform(ctx, credentials) as runner:
                ctx.log.info("terraform destroy")
                await _run_terraform(ctx, runner, destroy=True)
        except StateLocked as locked:
            return Verdict.unknown("StateLocked", f"{locked.summary}; retrying")
        except TerraformError as err:
            return Verdict.false("DestroyFailed", f"terraform {err.command} failed: {err.summary}")
    for kind, name in ((Secret, ctx.names.state_secret), (Lease, ctx.names.lock_lease),
                       (Secret, ctx.names.kubeconfig_secret), (Secret, ctx.names.credentials_secret)):
        try:
            await local.delete(kind, name, namespace=ctx.settings.namespace)
        except ApiError as err:
            if not kube.is_not_found(err):
                raise
    return None


def decode_kubeconfig(body: dict[str, Any]) -> str | None:
    encoded = (body.get("data") or {}).get("kubeconfig")
    return base64.b64decode(encoded).decode() if encoded else None
