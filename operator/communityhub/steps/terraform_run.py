"""The Terraform run of a dedicated hub's cluster, read in one place: the root module generated per hub and
the variables the operator passes it, the customer's credentials in its environment, the scratch
directory, the operator-wide concurrency slot, the ``kubernetes`` backend, and the takeover of a stale
state lock. :mod:`communityhub.steps.dedicated` decides when to run it; the cost gate before an apply is
:mod:`communityhub.steps.approval`; every name (state Secret, lock Lease, cluster stem) comes from
:mod:`communityhub.delivery.names`.

The root module puts the cloud's module from ``terraform/modules/<cloud>`` behind a ``kubernetes``
backend (state in a Secret of the operator's namespace, so a restarted operator, or another replica,
finds it). Customer-cloud credentials reach Terraform only through its environment; the scratch
directory is removed after every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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

from communityhub.adapters import kube
from communityhub.adapters.terraform import StateLocked, TerraformRunner, base_env
from communityhub.api.conditions import Verdict
from communityhub.delivery import cluster_inputs, policy, render
from communityhub.runtime import metrics
from communityhub.steps.context import HubContext

_SEMAPHORES: dict[int, asyncio.Semaphore] = {}


@dataclasses.dataclass(frozen=True)
class Root:
    """One Terraform root of a hub: the module behind it, what it is given, where its state and lock live, and
    whose cloud account it runs in. A dedicated hub's cluster is one (:func:`cluster_root`); a hub's buckets
    another (:mod:`communityhub.steps.buckets`)."""

    purpose: str  # "cluster" or "buckets": the scratch directory's name, the logs
    module: Path
    template: str  # the root module's text, with %(source)s for the module
    variables: dict[str, Any]
    state_suffix: str
    lock_lease: str
    cloud: str
    account: str  # "provider" or "customer"

    def inputs_hash(self) -> str:
        """Changes when the variables or the module's code change."""
        digest = hashlib.sha256(json.dumps(self.variables, sort_keys=True).encode())
        for path in sorted(self.module.glob("*.tf")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return "sha256:" + digest.hexdigest()[:32]


def extra(ctx: HubContext) -> tuple[dict[str, str], list[str]]:
    """The cluster module's var.extra, and the sources of any input it lacks (delivery.cluster_inputs)."""
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    return cluster_inputs.extra_from_settings(dedicated, ctx.settings)


def cluster_root(ctx: HubContext) -> Root:
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    return Root("cluster", cluster_inputs.module_dir(ctx.settings.terraform_modules, dedicated.cloud),
                cluster_inputs.ROOT_MODULE,
                cluster_inputs.variables(ctx.spec, ctx.namespace, ctx.name, ctx.names.cluster_stem, extra(ctx)[0]),
                ctx.names.state_suffix, ctx.names.lock_lease, dedicated.cloud, dedicated.account)


async def credentials_env(ctx: HubContext, root: Root, for_destroy: bool = False) -> dict[str, str] | Verdict:
    """The cloud credentials for Terraform: a customer's from the hub's Secret (each apply keeps a copy in the
    operator's namespace, so a destroy still has them when the hub's own Secret went first: a GitOps prune
    deletes both at once), else the provider's (provider_credentials_env)."""
    dedicated = ctx.spec.placement.dedicated
    if root.account != "customer" or dedicated is None or dedicated.credentials_secret_ref is None:
        return await provider_credentials_env(ctx, root.cloud)
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


async def provider_credentials_env(ctx: HubContext, cloud: str) -> dict[str, str] | Verdict:
    """The provider's own credentials for its cloud account (CHUB_PROVIDER_CREDENTIALS): the cloud's
    credential variables from the Secret <prefix><cloud> in the operator's namespace, or the operator pod's
    workload identity."""
    settings = ctx.settings
    if settings.provider_credentials == "workload-identity":
        return policy.workload_identity_env(cloud, os.environ)
    name = f"{settings.provider_credentials_secret_prefix}{cloud}"
    data = await kube.read_secret(ctx.clusters.get(None), name, settings.namespace)
    if not data:
        return Verdict.false(
            "ProviderCredentialsNotFound",
            f"Secret {settings.namespace}/{name} (the provider's {cloud} credentials for provider-account "
            f"clusters) not found or empty: its keys are the variables of the cloud's Terraform provider "
            f"({', '.join(policy.CREDENTIAL_KEYS[cloud])}); or run the operator with a cloud identity and "
            f"CHUB_PROVIDER_CREDENTIALS=workload-identity")
    return policy.credential_env(cloud, data, f"{settings.namespace}/{name}")


async def backend_config(ctx: HubContext, root: Root, workdir: Path) -> dict[str, str]:
    """The kubernetes backend's settings: the state's Secret and Lease in the operator's namespace, reached as the
    state ServiceAccount (a kubeconfig in the scratch directory with a token asked for this run), so Terraform
    never holds the operator's identity; without that account (a development setting), as the operator."""
    config = {"secret_suffix": root.state_suffix, "namespace": ctx.settings.namespace}
    account = ctx.settings.terraform_state_service_account
    if account:
        lifetime = max(600, int(ctx.settings.terraform_timeout_seconds * 4) + 60)  # init, plan, show, apply
        token = await kube.request_token(ctx.clusters.get(None), account, ctx.settings.namespace, lifetime)
        path = workdir / "state.kubeconfig"
        path.write_text(kube.token_kubeconfig_for_own_cluster(account, token))
        path.chmod(0o600)
        config["config_path"] = str(path)
        return config
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


async def _take_over(ctx: HubContext, root: Root, lock_id: str) -> None:
    """Release a stale lock: the kubernetes backend's lock is a Lease whose holderIdentity is the lock ID.
    Deleted only while that same lock still holds it (what `terraform force-unlock` does, without needing
    an initialised working directory, which a locked state prevents)."""
    name = root.lock_lease
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


async def run(ctx: HubContext, runner: TerraformRunner, root: Root, destroy: bool = False,
              approved: Callable[[str], bool] | None = None) -> str:
    """init, plan, apply (or destroy); returns the plan's summary. With ``approved``, a plan that changes
    anything is applied only when it says yes to the plan's summary (else AwaitingApproval). Takes over a
    stale lock once."""
    for attempt in (1, 2):
        try:
            await runner.init(await backend_config(ctx, root, runner.workdir))
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
            await _take_over(ctx, root, locked.lock.id)
    raise AssertionError("unreachable")


async def forget(ctx: HubContext, runner: TerraformRunner, root: Root, resource_name: str) -> list[str]:
    """Remove from the state every resource named ``resource_name`` (in any module, any instance): a destroy
    then leaves them in the cloud. The addresses forgotten."""
    await runner.init(await backend_config(ctx, root, runner.workdir))
    addresses = [a for a in await runner.state_list() if _resource_name(a) == resource_name]
    await runner.state_rm(addresses)
    ctx.log.info("terraform forgets", purpose=root.purpose, addresses=addresses)
    return addresses


def _resource_name(address: str) -> str:
    """``module.m.type.name["key"]`` -> ``name``."""
    last = address.split("[", 1)[0].split(".")
    return last[-1] if len(last) >= 2 else ""


def _semaphore(ctx: HubContext) -> asyncio.Semaphore:
    key = ctx.settings.terraform_concurrency
    return _SEMAPHORES.setdefault(key, asyncio.Semaphore(key))


@contextlib.asynccontextmanager
async def workspace(ctx: HubContext, credentials: dict[str, str], root: Root) -> AsyncIterator[TerraformRunner]:
    """A runner in a fresh scratch directory with the generated root module, within the operator's
    concurrency limit; the directory (and with it any credentials Terraform wrote) is removed after."""
    workdir = Path(ctx.settings.terraform_workdir) / ctx.names.slug / root.purpose
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, mode=0o700)
    (workdir / "main.tf").write_text(root.template % {"source": root.module})
    try:
        with metrics.WAITING_FOR_SLOT.labels("terraform").track_inprogress():
            await _semaphore(ctx).acquire()
        try:
            yield TerraformRunner(workdir=workdir, binary=ctx.settings.terraform,
                                  env=base_env(workdir, credentials),
                                  timeout=ctx.settings.terraform_timeout_seconds, variables=root.variables,
                                  hidden=tuple(ctx.settings.terraform_hidden))
        finally:
            _semaphore(ctx).release()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            workdir.parent.rmdir()  # the hub's folder, once its last root's run is over
