"""A hub's claims on its domain and on its home server's pre-made disk (delivery/domains.py decides; the claims
are ConfigMaps in the operator's namespace on its own cluster): made before the hub's first release and whenever
either changes, the old one's claim let go, every claim let go on teardown."""

from __future__ import annotations

from lightkube import ApiError

from communityhub.adapters import kube
from communityhub.api.conditions import Verdict
from communityhub.delivery import domains, homes, names
from communityhub.steps.context import HubContext


def _wanted(ctx: HubContext) -> list[str]:
    """What the hub claims: its domain, and its home server's pre-made disk (``disk:<cloud>:<id>``) if any."""
    keys = [ctx.spec.hub.domain.lower()]
    home = homes.server(ctx.hub_class.spec)
    shared = ctx.hub_class.spec.shared_storage if ctx.hub_class.spec is not None else None
    if home is not None and shared is not None and homes.enabled(ctx.spec, ctx.hub_class.spec):
        values = homes.server_values(ctx.spec, home, ctx.namespace, ctx.name, shared.size, shared.storage_class_name)
        if (disk := homes.disk(values)) is not None:
            keys.append(f"{domains.DISK_PREFIX}{disk}".lower())
    return keys


async def claim(ctx: HubContext) -> Verdict | None:
    """None once the hub holds its domain and its home disk (and only them); else DomainTaken or HomeDiskTaken,
    naming the holder's namespace."""
    client = ctx.clusters.get(None)
    keys = _wanted(ctx)
    for key in keys:
        wanted = domains.claim_manifest(key, ctx.namespace, ctx.name, ctx.uid, ctx.settings.namespace)
        for _ in range(3):  # a stale claim taken over by someone else meanwhile: look again
            existing = await kube.claim_config_map(client, wanted)
            if existing is None:
                ctx.log.info("claimed", what=key)
                break
            holder_ns, holder_name = existing.get(domains.NAMESPACE, ""), existing.get(domains.NAME, "")
            claimant = await kube.hub_uid(client, holder_ns, holder_name) if holder_ns and holder_name else None
            decided = domains.holder(existing, ctx.namespace, ctx.name, ctx.uid, claimant)
            if decided == "ours":
                break
            if decided == "taken":
                return domains.taken(key, existing)
            if await kube.replace_config_map(client, wanted, existing.get(domains.UID, "")):
                ctx.log.info("stale claim taken over", what=key)
                break
        else:
            return Verdict.unknown("DomainClaimContended", f"the claim on {key} changed hands while being taken over")
    await release(ctx, keep=frozenset(keys))
    return None


async def release(ctx: HubContext, keep: frozenset[str] = frozenset()) -> None:
    """Let go of the hub's claims (but those on ``keep``): its old domains and disks, or all of them on teardown."""
    client = ctx.clusters.get(None)
    if not ctx.uid:
        return
    for cm in await kube.config_maps(client, ctx.settings.namespace, {names.DOMAIN_CLAIM_LABEL: ctx.uid}):
        if cm["data"].get(domains.DOMAIN) in keep or cm["data"].get(domains.UID) != ctx.uid:
            continue
        try:
            await kube.delete_if_present(client, kube.ConfigMap, cm["name"], ctx.settings.namespace)
        except ApiError as err:
            ctx.log.warning("a domain claim could not be let go", claim=cm["name"], reason=err.status.message)
        else:
            ctx.log.info("domain claim let go", domain=cm["data"].get(domains.DOMAIN))
