"""Placing the hubs no shard watches (communityhub.runtime.sharding): each shard's leader watches the hubs
without a valid shard label and labels those its hash names; a label that names no shard is said on the hub
(Ready False, ``NoSuchShard``), since no shard will ever act on it."""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType

from communityhub.adapters import kube
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.runtime import sharding

NO_SUCH_SHARD = "NoSuchShard"


async def place(client: AsyncClient, shards: sharding.Sharding, hub: dict[str, Any], log: Any) -> None:
    meta = hub["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if meta.get("deletionTimestamp"):
        return
    placement = sharding.place(namespace, name, meta.get("labels") or {}, shards)
    if placement is None:
        return
    try:
        if placement.label is not None:
            # With the resourceVersion read: a label the provider sets meanwhile is not overwritten (409).
            await client.patch(kube.HUB, name, {"metadata": {"labels": {sharding.LABEL: placement.label},
                                                            "resourceVersion": meta["resourceVersion"]}},
                               namespace=namespace, patch_type=PatchType.MERGE)
            log.info("hub placed on a shard", hub=f"{namespace}/{name}", shard=placement.label)
        elif placement.problem is not None:
            old = list((hub.get("status") or {}).get("conditions") or [])
            failed = Verdict.false(NO_SUCH_SHARD, placement.problem)
            new = conditions.apply(old, {conditions.READY: failed, **conditions.kstatus(failed)},
                                   generation=meta.get("generation"), now=conditions.now_rfc3339())
            if conditions.changed(old, new):
                await kube.patch_hub_status(client, namespace, name, {"conditions": new})
                log.warning("hub on no shard", hub=f"{namespace}/{name}", problem=placement.problem)
    except ApiError as err:
        if err.status.code not in (404, 409):  # gone, or changed meanwhile: its next event decides again
            log.warning("placing a hub failed", hub=f"{namespace}/{name}", error=str(err.status.message))


async def run(client: AsyncClient, shards: sharding.Sharding, log: Any) -> None:
    """Forever: every hub outside the shards' selectors, at each list and on each change."""
    async for kind, hub in kube.watch_forever(client, kube.HUB, None, shards.unplaced_selector(), log):
        if hub is not None and kind != "DELETED":
            await place(client, shards, hub, log)

