"""Prometheus metrics (served on CHUB_METRICS_PORT). docs/operations.md lists them; the Grafana dashboard
in helm/communityhub-operator/dashboards/ is built on them (a test checks every query names one of these)."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONCILES = Counter("communityhub_reconciles_total", "Reconcile passes, by trigger and resulting Ready status",
                     ["trigger", "ready"])
RECONCILE_ERRORS = Counter("communityhub_reconcile_errors_total",
                           "Reconcile passes that failed with an error no step knows (Ready: OperatorError)",
                           ["trigger"])
RECONCILE_SECONDS = Histogram("communityhub_reconcile_seconds", "Duration of a reconcile pass", ["trigger"])
HELM_COMMANDS = Counter("communityhub_helm_commands_total", "helm commands that change a cluster",
                        ["command", "result"])
HELM_SECONDS = Histogram("communityhub_helm_seconds", "Duration of helm commands", ["command"],
                         buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600))
TERRAFORM_COMMANDS = Counter("communityhub_terraform_commands_total", "terraform commands, by result",
                             ["command", "result"])
TERRAFORM_SECONDS = Histogram("communityhub_terraform_seconds", "Duration of terraform commands", ["command"],
                              buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800))
SERVING_CHECK_SECONDS = Histogram("communityhub_serving_check_seconds",
                                  "Duration of serving checks (to a kernel that ran code, or to the failure)",
                                  ["result"], buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600))
#: Work queue depth: passes waiting for one of the bounded helm or terraform slots.
WAITING_FOR_SLOT = Gauge("communityhub_waiting_for_slot", "Hubs waiting for a helm or terraform slot", ["tool"])
DRIFT_REPAIRS = Counter("communityhub_drift_repairs_total",
                        "Releases deployed again because objects of theirs were deleted outside the operator",
                        ["cluster"])
#: Time from a hub's creation to each step of its first delivery.
DELIVERY_PHASES = ("ClusterReady", "HubReady", "Ready", "Delivered")
DELIVERY_SECONDS = Histogram("communityhub_delivery_seconds",
                             "Seconds from a CommunityHub's creation to each step of its first delivery", ["phase"],
                             buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))


class HubConditions(Collector):
    """``communityhub_hubs{condition, status, reason}``: how many hubs are in each state, from the conditions
    each pass last wrote (kept per hub here, counted at scrape time)."""

    def __init__(self) -> None:
        self.by_hub: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {}

    def update(self, key: tuple[str, str], conditions: Sequence[Mapping[str, Any]]) -> None:
        self.by_hub[key] = tuple((str(c.get("type")), str(c.get("status")), str(c.get("reason")))
                                 for c in conditions)

    def forget(self, key: tuple[str, str]) -> None:
        self.by_hub.pop(key, None)

    def counts(self) -> dict[tuple[str, str, str], int]:
        return dict(collections.Counter(c for conditions in self.by_hub.values() for c in conditions))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("communityhub_hubs", "CommunityHubs by condition, status and reason",
                                   labels=["condition", "status", "reason"])
        for (condition, status, reason), count in sorted(self.counts().items()):
            family.add_metric([condition, status, reason], count)
        yield family
        # Per hub, for alerts that name it (the chart's rules): 1 for each condition it holds now.
        each = GaugeMetricFamily("communityhub_hub_condition", "Each CommunityHub's conditions (1 while it holds)",
                                 labels=["namespace", "name", "condition", "status", "reason"])
        for (namespace, name), conditions in sorted(self.by_hub.items()):
            for condition, status, reason in conditions:
                each.add_metric([namespace, name, condition, status, reason], 1)
        yield each


#: When the operator's credential for each dedicated hub's cluster expires (it renews it before): one that is
#: not renewed in time is an alert, before the hub's passes start failing.
CLUSTER_CREDENTIAL_EXPIRY = Gauge("communityhub_cluster_credential_expiry_timestamp_seconds",
                                  "Expiry of the operator's token for a dedicated hub's cluster (Unix time)",
                                  ["namespace", "name"])


def forget_cluster_credential(key: tuple[str, str]) -> None:
    """A deleted hub's credential expiry leaves the metrics."""
    with contextlib.suppress(KeyError):  # never a dedicated hub, or never refreshed
        CLUSTER_CREDENTIAL_EXPIRY.remove(*key)


HUBS = HubConditions()
REGISTRY.register(HUBS)


def first_delivery(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], created: str | None,
                   delivered_before: bool, now: dt.datetime) -> dict[str, float]:
    """Phase -> seconds since creation, for each delivery phase that turned True in this pass, until the hub's
    first delivery is complete (after it, a recovery is not a delivery)."""
    if not created or delivered_before:
        return {}
    before = {c.get("type"): c.get("status") for c in old}
    since = (now - dt.datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()
    return {str(c["type"]): since for c in new
            if c.get("type") in DELIVERY_PHASES and c.get("status") == "True" and before.get(c["type"]) != "True"}
