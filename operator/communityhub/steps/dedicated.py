"""Step 1 for dedicated placement, ClusterReady: a cluster of the hub's own, through Terraform.

Terraform runs only when the inputs change (their hash is in ``status.cluster.inputsHash``), so an idle
resync runs no Terraform and writes nothing. Before an apply the cost gate records the estimate (and
waits for an approval where the spec asks for one: :mod:`communityhub.steps.approval`); the run itself
(root module, variables, credentials, backend, lock takeover) is :mod:`communityhub.steps.terraform_run`.
Plan, then apply only when the plan changes something; the counts go into the condition. The module's
kubeconfig output serves once, to give the operator a renewable identity in the cluster
(:mod:`communityhub.steps.cluster_access`), whose kubeconfig goes into the Secret the hub step deploys
with. Deleting reverses it: ``terraform destroy``, then the state, lock, kubeconfig and credentials.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from lightkube import ApiError
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Secret

from communityhub.adapters import kube
from communityhub.adapters.terraform import ProvidersUnavailable, StateLocked, TerraformError, state_has_resources
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.delivery import render
from communityhub.steps import approval, cluster_access, terraform_run
from communityhub.steps.context import HubContext, Target, indexed

KUBECONFIG_LABEL = "hubs.2i2c.org/cluster-kubeconfig"


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
    _, missing = terraform_run.extra(ctx)
    if missing:
        return Verdict.false("ClusterInputsMissing",
                             f"the {dedicated.cloud} module needs {', '.join(missing)}: set it, and the cluster is "
                             f"planned (nothing was run)")
    root = terraform_run.cluster_root(ctx)
    wanted = root.inputs_hash()
    recorded = (ctx.status.get("cluster") or {}).get("inputsHash")
    if recorded == wanted:
        target = target_from_secret(ctx)
        if target is not None:
            try:
                renewed = await cluster_access.refresh(ctx, target.kubeconfig)
            except cluster_access.Expired as expired:
                ctx.log.warning("enrolling again through terraform", reason=str(expired))
                target = None
            except kube.UNREACHABLE as err:
                return Verdict.unknown("ClusterUnreachable",
                                       f"renewing the operator's token for cluster {target.cluster}: {err}")
            else:
                if renewed is not None:
                    failed = await _store(ctx, renewed)
                    if failed:
                        return failed
                    target = dataclasses.replace(target, kubeconfig=renewed.kubeconfig)
        if target is not None:
            ctx.target, ctx.inputs_hash = target, wanted
            # Unchanged: keep what the apply said (its counts), rather than rewriting the status every pass.
            prior = conditions.find(ctx.status.get("conditions") or [], conditions.CLUSTER_READY)
            if prior and prior.get("status") == "True" and prior.get("reason") == "ClusterProvisioned":
                return Verdict.true("ClusterProvisioned", str(prior.get("message", "")))
            return Verdict.true("ClusterProvisioned",
                                f"dedicated {dedicated.cloud} cluster {target.cluster} at {target.endpoint}")
    # The cost is in the status before Terraform applies anything; with requireApproval, a person approves it.
    gate = await approval.open_gate(ctx, wanted)
    if isinstance(gate, Verdict):
        return gate

    credentials = await terraform_run.credentials_env(ctx, root)
    if isinstance(credentials, Verdict):
        return credentials
    try:
        async with terraform_run.workspace(ctx, credentials, root) as runner:
            ctx.log.info("terraform apply", cloud=dedicated.cloud, region=dedicated.region)
            summary = await terraform_run.run(ctx, runner, root, approved=gate.approved if gate.required else None)
            outputs = await runner.outputs()
    except terraform_run.AwaitingApproval as waiting:
        return approval.waiting(ctx, gate, waiting.plan)
    except StateLocked as locked:
        return Verdict.unknown("StateLocked", f"{locked.summary}; retrying (a lock older than "
                                              f"{ctx.settings.terraform_timeout_seconds + 30:.0f}s is taken over)")
    except ProvidersUnavailable as err:
        ctx.log.warning("terraform cannot install providers", command=err.command, error=err.summary)
        return Verdict.false("ProvidersUnavailable",
                             f"terraform {err.command}: {err.summary}. Every input of the {dedicated.cloud} module "
                             f"was given; the plan runs where the provider registry, a mirror or a plugin cache is "
                             f"reachable")
    except TerraformError as err:
        ctx.log.warning("terraform failed", command=err.command, error=err.summary)
        return Verdict.false("TerraformFailed", f"terraform {err.command} failed: {err.summary}")
    # The module's kubeconfig may hold an hour's token: used once, to give the operator a renewable one.
    try:
        credential = await cluster_access.enroll(ctx, outputs["kubeconfig"])
    except (*kube.UNREACHABLE, ApiError) as err:
        return Verdict.unknown("ClusterUnreachable", f"terraform applied ({summary}), but the operator could not "
                                                     f"give itself an identity in cluster {outputs['cluster_name']}: "
                                                     f"{err}; trying again")
    failed = await _store(ctx, credential)
    if failed:
        return failed
    ctx.target = Target(cluster=outputs["cluster_name"], namespace=ctx.names.namespace,
                        kubeconfig=credential.kubeconfig, endpoint=outputs["endpoint"],
                        kubeconfig_secret=ctx.names.kubeconfig_secret)
    ctx.inputs_hash = wanted
    approval.applied(ctx, gate, summary)
    return Verdict.true("ClusterProvisioned",
                        f"terraform applied ({summary}); dedicated {dedicated.cloud} cluster "
                        f"{outputs['cluster_name']} at {outputs['endpoint']}")


async def _store(ctx: HubContext, credential: cluster_access.Credential) -> Verdict | None:
    """The operator's kubeconfig for the cluster into its Secret; then the tokens before it are revoked."""
    try:
        await kube.ensure_secret(
            ctx.clusters.get(None), ctx.names.kubeconfig_secret, ctx.settings.namespace,
            {"kubeconfig": credential.kubeconfig.encode()},
            {KUBECONFIG_LABEL: "true", render.HUB_LABEL: render.label_value(ctx.name),
             render.HUB_NAMESPACE_LABEL: render.label_value(ctx.namespace)},
            annotations=ctx.owner_annotations, check=ctx.ownership)
    except kube.NotOwned as err:
        return Verdict.false("NameConflict", f"{err}: the cluster's kubeconfig is not stored")
    ctx.log.info("the operator's token for the dedicated cluster is stored")
    await cluster_access.retire(ctx, credential)
    return None


#: Set to "true" on a CommunityHub being deleted whose Terraform state is lost: its cluster is abandoned.
ABANDON_CLUSTER = "hubs.2i2c.org/abandon-cluster"


async def destroy(ctx: HubContext) -> Verdict | None:
    """terraform destroy, then the state, lock, kubeconfig and credentials; None when all is gone. A hub
    whose cluster was applied but whose state is gone keeps its finalizer until a human decides. Credentials
    are needed only when there is something to destroy."""
    local = ctx.clusters.get(None)
    applied = bool((ctx.status.get("cluster") or {}).get("inputsHash"))
    state = await kube.read_secret(local, ctx.names.state_secret, ctx.settings.namespace)
    if state is not None and state_has_resources(state) is False:
        # What `terraform init` left (a cluster that was never created): nothing to destroy, and a destroy would
        # need the providers, which such a cluster may never have had.
        ctx.log.info("the terraform state records no resource: nothing to destroy")
    elif state is None:
        if applied and ctx.annotations.get(ABANDON_CLUSTER) != "true":
            cluster = (ctx.status.get("cluster") or {}).get("name", "?")
            return Verdict.false(
                "StateMissing",
                f"the Terraform state (Secret {ctx.settings.namespace}/{ctx.names.state_secret}) is gone, so "
                f"cluster {cluster} cannot be destroyed and may still exist (and cost money). Restore the state "
                f"Secret, or delete the cluster by hand and annotate this CommunityHub {ABANDON_CLUSTER}=true")
    else:
        target = target_from_secret(ctx)
        if target is not None:
            # A cloud cluster takes the identity with it; the local module's control plane outlives the "cluster".
            try:
                await cluster_access.withdraw(ctx, target.kubeconfig)
            except (*kube.UNREACHABLE, ApiError) as err:
                ctx.log.warning("the operator's identity in the cluster was not removed", error=str(err))
        root = terraform_run.cluster_root(ctx)
        credentials = await terraform_run.credentials_env(ctx, root, for_destroy=True)
        if isinstance(credentials, Verdict):
            return credentials
        try:
            async with terraform_run.workspace(ctx, credentials, root) as runner:
                ctx.log.info("terraform destroy")
                await terraform_run.run(ctx, runner, root, destroy=True)
        except StateLocked as locked:
            return Verdict.unknown("StateLocked", f"{locked.summary}; retrying")
        except TerraformError as err:
            return Verdict.false("DestroyFailed", f"terraform {err.command} failed: {err.summary}")
    for kind, name in ((Secret, ctx.names.state_secret), (Lease, ctx.names.lock_lease),
                       (Secret, ctx.names.kubeconfig_secret), (Secret, ctx.names.credentials_secret)):
        await kube.delete_if_present(local, kind, name, ctx.settings.namespace)
    return None


def decode_kubeconfig(body: dict[str, Any]) -> str | None:
    encoded = (body.get("data") or {}).get("kubeconfig")
    return base64.b64decode(encoded).decode() if encoded else None
