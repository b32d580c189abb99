"""The hub's buckets (spec.storage.buckets), through a Terraform root of their own: part of EnvironmentReady.

Terraform runs only when the inputs change (``status.buckets.inputsHash``), in the cloud account of the
hub's cluster (:mod:`communityhub.delivery.bucket_inputs`), with the same credentials a dedicated cluster
of that account would use. What it returns (URLs, the identity's ServiceAccount annotations and pod labels)
goes into the status, from which the hub step renders the users' environment and their ServiceAccount.
Removing the buckets from the spec, or deleting the hub, follows ``lifecycle.decommission.buckets``:
Delete destroys them with their objects; Retain removes them from Terraform's state (they stay, untouched,
in the cloud account) and destroys only the rest (the identity's bindings).
"""

from __future__ import annotations

from typing import Any

from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Secret

from communityhub.adapters import kube
from communityhub.adapters.terraform import ProvidersUnavailable, StateLocked, TerraformError
from communityhub.api.conditions import Verdict
from communityhub.delivery import bucket_inputs
from communityhub.steps import terraform_run
from communityhub.steps.cluster import LOCAL
from communityhub.steps.context import HubContext, indexed


def _location(ctx: HubContext) -> bucket_inputs.Location | Verdict:
    shared = None
    shared_name = ctx.spec.placement.shared_cluster or LOCAL
    if ctx.spec.placement.type != "dedicated":
        registered = indexed(ctx.shared_clusters, shared_name)
        shared = ctx.settings.own_cluster_location() if shared_name == LOCAL else \
            registered.location if registered is not None else None
    cluster = {"name": ctx.target.cluster} if ctx.target is not None else ctx.status.get("cluster") or {}
    where = bucket_inputs.location(ctx.spec, cluster, shared, ctx.settings.gcp_project, ctx.settings.local_s3_endpoint)
    if where is None:
        return Verdict.false("BucketsUnavailable",
                             f"shared cluster {shared_name} names no cloud for buckets: "
                             f"give its registration Secret the keys cloud and region (the operator's own cluster: "
                             f"CHUB_OWN_CLUSTER_CLOUD and CHUB_OWN_CLUSTER_REGION)")
    if where.missing:
        return Verdict.false("BucketInputsMissing",
                             f"the {where.cloud} buckets need {', '.join(where.missing)}: nothing was run")
    return where


def _root(ctx: HubContext, where: bucket_inputs.Location) -> terraform_run.Root:
    dedicated = ctx.spec.placement.dedicated
    account = dedicated.account if ctx.spec.placement.type == "dedicated" and dedicated is not None else "provider"
    return terraform_run.Root(
        "buckets", bucket_inputs.module_dir(ctx.settings.terraform_modules, where.cloud), bucket_inputs.ROOT_MODULE,
        bucket_inputs.variables(ctx.spec, ctx.namespace, ctx.name, ctx.names, where),
        ctx.names.buckets_state_suffix, ctx.names.buckets_lock_lease, where.cloud, account)


async def ensure(ctx: HubContext) -> Verdict | None:
    """The buckets as the spec says; None when the hub has none (and had none)."""
    recorded: dict[str, Any] = dict(ctx.status.get("buckets") or {})
    if not ctx.spec.storage.buckets:
        if not recorded:
            return None
        blocked = await remove(ctx)
        if blocked is not None:
            return blocked
        ctx.buckets = {}  # the status field goes
        return None
    where = _location(ctx)
    if isinstance(where, Verdict):
        return where
    root = _root(ctx, where)
    wanted = root.inputs_hash()
    if recorded.get("inputsHash") == wanted:
        ctx.buckets = recorded
        return Verdict.true("BucketsReady", _describe(recorded))
    credentials = await terraform_run.credentials_env(ctx, root)
    if isinstance(credentials, Verdict):
        return credentials
    try:
        async with terraform_run.workspace(ctx, credentials, root) as runner:
            ctx.log.info("terraform apply", purpose="buckets", cloud=where.cloud)
            summary = await terraform_run.run(ctx, runner, root)
            outputs = await runner.outputs()
    except StateLocked as locked:
        return Verdict.unknown("StateLocked", f"buckets: {locked.summary}; retrying")
    except ProvidersUnavailable as err:
        return Verdict.false("ProvidersUnavailable", f"buckets: terraform {err.command}: {err.summary}")
    except TerraformError as err:
        return Verdict.false("BucketsFailed", f"buckets: terraform {err.command} failed: {err.summary}")
    urls = outputs.get("urls") or {}
    ctx.buckets = {
        "cloud": where.cloud, "inputsHash": wanted,
        "buckets": [{"name": b.name, "type": b.type, "url": urls.get(b.name, "")} for b in ctx.spec.storage.buckets],
        "serviceAccountAnnotations": dict(outputs.get("service_account_annotations") or {}),
        "podLabels": dict(outputs.get("pod_labels") or {}),
    }
    return Verdict.true("BucketsReady", f"{_describe(ctx.buckets)} (terraform: {summary})")


def _describe(status: dict[str, Any]) -> str:
    return "buckets " + ", ".join(f"{b['name']} ({b['type']}) at {b['url']}" for b in status.get("buckets") or [])


async def remove(ctx: HubContext) -> Verdict | None:
    """The buckets go as lifecycle.decommission.buckets says; then their state and lock. None once done."""
    recorded = ctx.status.get("buckets") or {}
    local = ctx.clusters.get(None)
    state = await kube.read_secret(local, ctx.names.buckets_state_secret, ctx.settings.namespace)
    if state is not None and recorded:
        where = _location(ctx)
        if isinstance(where, Verdict):
            return where
        root = _root(ctx, where)
        credentials = await terraform_run.credentials_env(ctx, root, for_destroy=True)
        if isinstance(credentials, Verdict):
            return credentials
        retain = ctx.spec.lifecycle.decommission.buckets == "Retain"
        try:
            async with terraform_run.workspace(ctx, credentials, root) as runner:
                if retain:
                    await terraform_run.forget(ctx, runner, root, "bucket")
                ctx.log.info("terraform destroy", purpose="buckets", retain=retain)
                await terraform_run.run(ctx, runner, root, destroy=True)
        except StateLocked as locked:
            return Verdict.unknown("StateLocked", f"buckets: {locked.summary}; retrying")
        except TerraformError as err:
            return Verdict.false("DestroyFailed", f"buckets: terraform {err.command} failed: {err.summary}")
        urls = ", ".join(b["url"] for b in recorded.get("buckets") or [])
        fate = "kept in the cloud account (lifecycle.decommission.buckets: Retain)" if retain else \
            "deleted with their objects (lifecycle.decommission.buckets: Delete)"
        ctx.events.append(("Normal", "BucketsKept" if retain else "BucketsDeleted", f"buckets {urls} {fate}"))
    for kind, name in ((Secret, ctx.names.buckets_state_secret), (Lease, ctx.names.buckets_lock_lease)):
        await kube.delete_if_present(local, kind, name, ctx.settings.namespace)
    return None
