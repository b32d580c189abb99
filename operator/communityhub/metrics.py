"""Prometheus metrics (served on CHUB_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECONCILES = Counter("communityhub_reconciles_total", "Reconcile passes, by trigger and resulting Ready status",
                     ["trigger", "ready"])
RECONCILE_SECONDS = Histogram("communityhub_reconcile_seconds", "Duration of a reconcile pass", ["trigger"])
HELM_COMMANDS = Counter("communityhub_helm_commands_total", "helm commands that change a cluster",
                        ["command", "result"])
DRIFT_REPAIRS = Counter("communityhub_drift_repairs_total",
                        "Releases deployed again because objects of theirs were deleted outside the operator",
                        ["cluster"])
