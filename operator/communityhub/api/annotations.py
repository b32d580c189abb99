"""The annotations billing reads: the contract between the operator (writer) and ``hubctl`` (reader).

All values are strings, under the ``hubs.2i2c.org/`` prefix (Kopf leaves the prefix out of its diffs,
so writing them never wakes the operator's update path).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping

from communityhub.api.models import GROUP

BILLING_PLAN = f"{GROUP}/billing-plan"
BILLING_MONTHLY_FEE = f"{GROUP}/billing-monthly-fee-usd"
BILLING_SETUP_FEE = f"{GROUP}/billing-setup-fee-usd"
BILLING_PASSTHROUGH = f"{GROUP}/billing-cloud-cost-passthrough"
#: A time-boxed hub's window (RFC 3339): its monthly fee is billed for the days of the window only.
BILLING_WINDOW_START = f"{GROUP}/billing-window-start"
BILLING_WINDOW_END = f"{GROUP}/billing-window-end"
COST_MONTH_TO_DATE = f"{GROUP}/cost-cloud-usd-month-to-date"
#: The month (YYYY-MM) the month-to-date figure belongs to, and the closed figure of the month before it.
COST_MONTH = f"{GROUP}/cost-cloud-month"
COST_PREVIOUS_MONTH = f"{GROUP}/cost-cloud-usd-previous-month"
#: What the month-to-date figure (and the month before's) is made of: JSON, part -> USD ("compute" for CPU and
#: memory, "gpu", "volumes", "buckets"); absent parts cost nothing.
COST_PARTS_MONTH_TO_DATE = f"{GROUP}/cost-cloud-parts-month-to-date"
COST_PARTS_PREVIOUS_MONTH = f"{GROUP}/cost-cloud-parts-previous-month"
USAGE_WAU = f"{GROUP}/usage-weekly-active-users"
USAGE_MAU = f"{GROUP}/usage-monthly-active-users"
USAGE_OBSERVED_AT = f"{GROUP}/usage-observed-at"
#: The latest start or activity of any user's server (absent: no user ever started one).
USAGE_LAST_ACTIVITY = f"{GROUP}/usage-last-activity"
#: Bytes stored in the hub's buckets (spec.storage.buckets), where the operator can measure them.
USAGE_BUCKET_BYTES = f"{GROUP}/usage-bucket-bytes"
DELIVERED_AT = f"{GROUP}/delivered-at"
#: The Message-ID of a DELIVERED email in flight (written before the send; see communityhub.delivery.emails).
DELIVERED_EMAIL_ID = f"{GROUP}/delivered-email-id"
#: The guards' notices (JSON: occurrence key -> Message-ID and, once the SMTP server took it, sentAt).
NOTICES = f"{GROUP}/notices"

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


class AnnotationError(ValueError):
    """An annotation that is missing or malformed; the message names it."""


def usd(value: float) -> str:
    """Money as written: two decimals, no exponent."""
    return f"{value:.2f}"


def write_parts(parts: Mapping[str, float]) -> str:
    return json.dumps({part: usd(amount) for part, amount in sorted(parts.items()) if round(amount, 2)},
                      sort_keys=True)


def read_parts(annotations: Mapping[str, str], key: str) -> dict[str, float]:
    """A cost's parts (empty when the annotation is absent: a ledger from before parts were kept)."""
    raw = annotations.get(key)
    if not raw:
        return {}
    try:
        parts = json.loads(raw)
        return {str(k): float(v) for k, v in parts.items() if math.isfinite(float(v)) and float(v) >= 0}
    except (ValueError, AttributeError, TypeError):
        raise AnnotationError(f"{key}={raw!r} is not a JSON map of parts to amounts") from None


def read_usd(annotations: Mapping[str, str], key: str) -> float:
    raw = _required(annotations, key)
    try:
        value = float(raw)
    except ValueError:
        raise AnnotationError(f"{key}={raw!r} is not an amount in USD") from None
    if not math.isfinite(value) or value < 0:
        raise AnnotationError(f"{key}={raw!r} is not a non-negative amount")
    return value


def read_count(annotations: Mapping[str, str], key: str) -> int:
    raw = _required(annotations, key)
    if not raw.isdigit():
        raise AnnotationError(f"{key}={raw!r} is not a whole number")
    return int(raw)


def read_bool(annotations: Mapping[str, str], key: str) -> bool:
    raw = _required(annotations, key)
    if raw not in ("true", "false"):
        raise AnnotationError(f"{key}={raw!r} is not true or false")
    return raw == "true"


def read_time(annotations: Mapping[str, str], key: str) -> dt.datetime:
    raw = _required(annotations, key)
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise AnnotationError(f"{key}={raw!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise AnnotationError(f"{key}={raw!r} has no time zone")
    return value.astimezone(dt.UTC)


def read_month(annotations: Mapping[str, str], key: str) -> str:
    raw = _required(annotations, key)
    if not MONTH.match(raw):
        raise AnnotationError(f"{key}={raw!r} is not a month (YYYY-MM)")
    return raw


def _required(annotations: Mapping[str, str], key: str) -> str:
    raw = annotations.get(key)
    if raw is None or raw == "":
        raise AnnotationError(f"{key} is missing")
    return raw.strip()
