"""A hub's claim on its domain (delivery/domains.py decides; the claims are ConfigMaps in the operator's
namespace on its own cluster): made before the hub's first release and whenever its domain changes, the old
domain's claim let go, every claim let go on teardown."""

from __future__ import annotations

from lightkube import ApiError

from communityhub.adapters import kube
from communityhub.api.conditions import Verdict
from communityhub.delivery import domains, names
from communityhub.steps.context import HubContext


async def claim(ctx: HubContext) -> Verdict | None:
    """None once the hub holds its domain (and only it); else DomainTaken, naming the holder's namespace."""
    domain = ctx.spec.hub.domain.lower()
    client = ctx.clusters.get(None)
    wanted = domains.claim_manifest(domain, ctx.namespace, ctx.name, ctx.uid, ctx.settings.namespace)
    for _ in range(3):  # a stale claim taken over by someone else meanwhile: look again
        existing = await kube.claim_config_map(client, wanted)
        if existing is None:
            ctx.log.info("domain claimed", domain=domain)
            break
        holder_ns, holder_name = existing.get(domains.NAMESPACE, ""), existing.get(domains.NAME, "")
        claimant = await kube.hub_uid(client, holder_ns, holder_name) if holder_ns and holder_name else None
        decided = domains.holder(existing, ctx.namespace, ctx.name, ctx.uid, claimant)
        if decided == "ours":
            break
        if decided == "taken":
            return domains.taken(domain, existing)
        if await kube.replace_config_map(client, wanted, existing.get(domains.UID, "")):
            ctx.log.info("stale domain claim taken over", domain=domain)
            break
    else:
        return Verdict.unknown("DomainClaimContended", f"the claim on {domain} changed hands while being taken over")
    await release(ctx, keep=domain)
    return None


async def release(ctx: HubContext, keep: str | None = None) -> None:
    """Let go of the hub's claims (but the one on ``keep``): its old domains, or all of them on teardown."""
    client = ctx.clusters.get(None)
    if not ctx.uid:
        return
    for cm in await kube.config_maps(client, ctx.settings.namespace, {names.DOMAIN_CLAIM_LABEL: ctx.uid}):
        if cm["data"].get(domains.DOMAIN) == keep or cm["data"].get(domains.UID) != ctx.uid:
            continue
        try:
            await kube.delete_if_present(client, kube.ConfigMap, cm["name"], ctx.settings.namespace)
        except ApiError as err:
            ctx.log.warning("a domain claim could not be let go", claim=cm["name"], reason=err.status.message)
        else:
            ctx.log.info("domain claim let go", domain=cm["data"].get(domains.DOMAIN))
