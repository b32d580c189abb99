"""Metering of Ready hubs: usage from the hub's own REST API and month-to-date cloud cost.

Runs from the resync pass when the hub is Ready and ``meter_seconds`` have passed since its last
metering. It returns annotations to patch (only those whose value changes) and the conditions
UsageReported and CostReported. An unreachable hub keeps its last figures: nothing is written but
the condition that says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import math
import zlib
from collections.abc import Mapping
from typing import Any

from lightkube import ApiError
from lightkube.resources.core_v1 import ConfigMap, Namespace, Node, PersistentVolumeClaim, Pod

from communityhub.adapters import http, kube, objectstore
from communityhub.api import annotations as ann
from communityhub.api.conditions import Verdict, rfc3339
from communityhub.delivery import render
from communityhub.money import cost, usage
from communityhub.runtime import clock
from communityhub.runtime.settings import Settings
from communityhub.steps import hub
from communityhub.steps.context import HubContext, Target

USAGE_REPORTED = "UsageReported"
COST_REPORTED = "CostReported"
LEDGER_KEY = "ledger.json"


def first_metering(namespace: str, name: str, interval: float, now: float) -> float:
    """When a hub newly seen is metered first: a fixed point within one interval, so a fleet's first
    meterings are spread rather than all at start-up. ``interval`` 0 turns metering off (never)."""
    if interval <= 0:
        return math.inf
    return now + zlib.crc32(f"{namespace}/{name}".encode()) % 1000 / 1000 * interval


def next_metering(interval: float, now: float) -> float:
    """When a hub just metered is metered again (never when metering is off)."""
    return math.inf if interval <= 0 else now + interval


def ledger_name(cluster: str) -> str:
    return f"communityhub-cost-{render.label_value(cluster).lower().replace('_', '-').replace('.', '-')}"[:253]


def changed(current: Mapping[str, str], wanted: Mapping[str, str | None]) -> dict[str, str | None]:
    """The annotations to patch: those whose value differs (None: remove one that is there)."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


@dataclasses.dataclass
class Meter:
    """Shared by every hub's pass: the price catalog, and one cost ledger (and lock) per cluster."""

    settings: Settings
    prices: dict[str, Any]
    ledgers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)
    #: Per ledger: what each hub's buckets held when it was last measured (owner -> bytes), priced in the ledger.
    bucket_bytes: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: Per ledger: each hub's users' groups as its API said them last (owner -> user -> groups), for the
    #: ledger's split by group.
    user_groups: dict[str, dict[str, dict[str, list[str]]]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Meter:
        return cls(settings, cost.catalog(settings.price_catalog))


async def read_usage(ctx: HubContext, now: dt.datetime) -> tuple[usage.Usage, dict[str, list[str]]]:
    """The hub's active users, and each user's groups."""
    assert ctx.target is not None
    token = await hub.usage_token(ctx.clusters.get(ctx.target.kubeconfig), ctx.target.namespace)
    if not token:
        raise http.HttpError(f"Secret {ctx.target.namespace}/{render.USAGE_TOKEN_SECRET_NAME} with the hub's API "
                             "token is missing (it is created with the hub's release)")
    base = hub.hub_api_url(ctx.settings, ctx.spec, ctx.target).rstrip("/")
    users: list[dict[str, Any]] = []
    offset = 0
    while True:  # JupyterHub pages its user list; ask for stopped servers too (their activity counts)
        page = await http.get_json(f"{base}/users?include_stopped_servers=1&limit=200&offset={offset}",
                                   timeout_seconds=ctx.settings.http_timeout_seconds, token=token.decode(),
                                   accept="application/jupyterhub-pagination+json",
                                   extra_ca_file=ctx.settings.extra_ca_file,
                                   allow_private=ctx.settings.http_allow_private
                                   or hub.hub_api_is_operators(ctx.settings, ctx.target))
        if isinstance(page, list):  # a hub too old to page
            users.extend(page)
            break
        users.extend(page.get("items") or [])
        following = (page.get("_pagination") or {}).get("next")
        if not following:
            break
        offset = int(following["offset"])
    return usage.active_users(users, now), usage.groups_of(users)


def usage_annotations(current: Mapping[str, str], figures: usage.Usage, refresh_seconds: float
                      ) -> dict[str, str | None]:
    """The usage annotations to write: the figures when they change, with their time; the time alone only when
    it is older than ``refresh_seconds`` (so an idle hub is not rewritten on every pass)."""
    wanted = {ann.USAGE_WAU: str(figures.weekly_active), ann.USAGE_MAU: str(figures.monthly_active)}
    if figures.last_activity is not None:
        wanted[ann.USAGE_LAST_ACTIVITY] = rfc3339(figures.last_activity)
    patch = changed(current, wanted)
    try:
        age = figures.observed_at - ann.read_time(current, ann.USAGE_OBSERVED_AT)
        stale = age.total_seconds() >= refresh_seconds
    except ann.AnnotationError:  # missing or malformed: write a good one
        stale = True
    if patch or stale:
        patch[ann.USAGE_OBSERVED_AT] = rfc3339(figures.observed_at)
    return patch


async def _cluster_state(ctx: HubContext, target: Target
                         ) -> tuple[list[cost.Node], list[cost.Pod], list[cost.Volume]]:
    client = ctx.clusters.get(target.kubeconfig)
    owners: dict[str, str] = {}
    async for namespace in client.list(Namespace, labels=render.MANAGED_BY):
        labels = (namespace.metadata.labels or {}) if namespace.metadata else {}
        if namespace.metadata and render.HUB_LABEL in labels:
            owner = f"{labels.get(render.HUB_NAMESPACE_LABEL)}/{labels[render.HUB_LABEL]}"
            owners[str(namespace.metadata.name)] = owner
    nodes = [cost.node_from(n.to_dict(), ctx.settings.default_cloud) async for n in client.list(Node)]
    pods = [p for p in [cost.pod_from(p.to_dict(), owners) async for p in client.list(Pod, namespace="*")] if p]
    volumes = [v for v in [cost.volume_from(c.to_dict(), owners)
                           async for c in client.list(PersistentVolumeClaim, namespace="*")] if v]
    return nodes, pods, volumes


async def cluster_ledger(ctx: HubContext, meter: Meter, now: dt.datetime) -> dict[str, Any]:
    """The cost ledger of the hub's cluster, brought up to ``now`` at most once per ``meter_seconds/2``
    whichever hub asks: one list of nodes and pods per cluster, not per hub."""
    target = ctx.target
    assert target is not None
    name = ledger_name(target.cluster)
    async with meter.locks.setdefault(name, asyncio.Lock()):
        local = ctx.clusters.get(None)
        ledger = meter.ledgers.get(name)
        if ledger is None:  # first use since start: the durable copy
            try:
                cm = await local.get(ConfigMap, name, namespace=ctx.settings.namespace)
                ledger = json.loads((cm.data or {}).get(LEDGER_KEY) or "null")
            except ApiError as err:
                if not kube.is_not_found(err):
                    raise
        if ledger and ledger.get("observedAt"):
            age = (now - cost.parse_time(ledger["observedAt"])).total_seconds()
            if 0 <= age < meter.settings.meter_seconds / 2:
                return ledger
        nodes, pods, volumes = await _cluster_state(ctx, target)
        dedicated_to = f"{ctx.namespace}/{ctx.name}" if ctx.spec.placement.type == "dedicated" else None
        by_user: dict[str, dict[str, float]] = {}
        by_part, unpriced = cost.part_rates(nodes, pods, meter.prices, dedicated_to, volumes,
                                            meter.bucket_bytes.get(name), users=by_user)
        ledger = cost.accrue(ledger, cost.totals(by_part), now, by_part, by_user, meter.user_groups.pop(name, None))
        ledger["cluster"], ledger["unpriced"] = target.cluster, unpriced
        ledger, text = cost.trimmed(ledger)
        await kube.ensure_config_map(local, name, ctx.settings.namespace, {LEDGER_KEY: text}, render.MANAGED_BY)
        meter.ledgers[name] = ledger
        return ledger


def cost_annotations(ledger: Mapping[str, Any], owner: str) -> dict[str, str]:
    out = {ann.COST_MONTH: str(ledger["month"]), ann.COST_MONTH_TO_DATE: ann.usd(ledger["owners"].get(owner, 0.0)),
           ann.COST_PARTS_MONTH_TO_DATE: ann.write_parts((ledger.get("parts") or {}).get(owner) or {})}
    previous = ledger.get("previous")
    if previous:
        out[ann.COST_PREVIOUS_MONTH] = ann.usd(previous["owners"].get(owner, 0.0))
        out[ann.COST_PARTS_PREVIOUS_MONTH] = ann.write_parts((previous.get("parts") or {}).get(owner) or {})
    return out


async def bucket_usage(ctx: HubContext) -> tuple[str, str | None] | None:
    """What the hub's buckets hold, for UsageReported and the annotation; None when it has none. Measured where
    the operator can (the local module's S3-compatible server); cloud buckets by the cloud's cost allocation."""
    recorded = ctx.status.get("buckets") or {}
    names = [b["url"].removeprefix("s3://") for b in recorded.get("buckets") or []]
    if not names:
        return None
    if recorded.get("cloud") != "local" or not ctx.settings.local_s3_endpoint:
        return (f"bucket storage of {recorded.get('cloud')} is in the cloud's cost allocation (the hub's labels), "
                f"not measured here", None)
    try:
        sizes = [await objectstore.bucket_bytes(ctx.settings.local_s3_endpoint, name,
                                                ctx.settings.http_timeout_seconds) for name in names]
    except http.HttpError as err:
        return f"bucket storage unknown: {err}", None
    return f"{sum(sizes)} bytes in bucket(s) {', '.join(names)}", str(sum(sizes))


async def run(ctx: HubContext, meter: Meter) -> tuple[dict[str, Verdict], dict[str, str | None]]:
    now = clock.now(ctx.settings.clock_file)
    verdicts: dict[str, Verdict] = {}
    patch: dict[str, str | None] = {}
    try:
        figures, groups = await read_usage(ctx, now)
        if ctx.target is not None:
            meter.user_groups.setdefault(ledger_name(ctx.target.cluster), {})[f"{ctx.namespace}/{ctx.name}"] = groups
        patch.update(usage_annotations(ctx.annotations, figures, ctx.settings.usage_refresh_seconds))
        verdicts[USAGE_REPORTED] = Verdict.true(
            "UsageRead", f"{figures.weekly_active} weekly and {figures.monthly_active} monthly active users of "
                         f"{figures.users} (their time: annotation {ann.USAGE_OBSERVED_AT})")
    except (http.HttpError, ApiError, ValueError) as err:
        kept = ctx.annotations.get(ann.USAGE_OBSERVED_AT)
        verdicts[USAGE_REPORTED] = Verdict.false(
            "HubApiUnreachable", f"{err}; keeping the figures observed at {kept}" if kept else f"{err}; no figures yet")
    stored = await bucket_usage(ctx)
    if stored is not None:
        text, figure = stored
        patch.update(changed(ctx.annotations, {ann.USAGE_BUCKET_BYTES: figure} if figure is not None else {}))
        usage_verdict = verdicts[USAGE_REPORTED]
        verdicts[USAGE_REPORTED] = dataclasses.replace(usage_verdict, message=f"{usage_verdict.message}; {text}")
    if stored is not None and stored[1] is not None and ctx.target is not None:
        meter.bucket_bytes.setdefault(ledger_name(ctx.target.cluster), {})[f"{ctx.namespace}/{ctx.name}"] = \
            int(stored[1])
    try:
        ledger = await cluster_ledger(ctx, meter, now)
        patch.update(changed(ctx.annotations, cost_annotations(ledger, f"{ctx.namespace}/{ctx.name}")))
        if ledger.get("unpriced"):
            verdicts[COST_REPORTED] = Verdict.false(
                "NodesWithoutPrice", f"no price for node(s) {', '.join(ledger['unpriced'])}: add them to the "
                                     "price catalog (CHUB_PRICE_CATALOG); their cost is not counted")
        else:
            verdicts[COST_REPORTED] = Verdict.true(
                "CostAccrued", f"month-to-date cloud cost on cluster {ledger['cluster']} since {ledger['since']}")
    except (ApiError, OSError, ValueError) as err:
        verdicts[COST_REPORTED] = Verdict.false("CostUnavailable", f"the cluster's nodes cannot be read: {err}")
    return verdicts, patch
