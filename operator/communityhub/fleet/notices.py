"""The guards' emails (pure): their text, and the record that sends each one exactly once.

The record is one annotation on the CommunityHub (``hubs.2i2c.org/notices``), a JSON map from a
notice's key to ``{"id": <Message-ID>}`` written *before* the send and ``sentAt`` added after the SMTP
server took it: the DELIVERED email's protocol (:mod:`communityhub.delivery.emails`), one entry per
occurrence. An id without ``sentAt`` means the operator stopped while sending: not sent again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Literal

from communityhub.api.annotations import NOTICES
from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import render
from communityhub.delivery.emails import envelope
from communityhub.fleet.lifecycle import Notice

Ledger = dict[str, dict[str, str]]
#: Keys of monthly notices: dropped from the record once their month is over (they cannot recur).
MONTHLY_KEY = re.compile(r"^budget-[0-9]+/([0-9]{4}-[0-9]{2})$")


class LedgerError(ValueError):
    """The record is unreadable: nothing is sent until it is fixed (else everything would go out again)."""


def read(annotations: Mapping[str, str]) -> Ledger:
    raw = annotations.get(NOTICES)
    if not raw:
        return {}
    try:
        ledger = json.loads(raw)
    except ValueError:
        raise LedgerError(f"annotation {NOTICES} is not JSON") from None
    if not isinstance(ledger, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("id"), str) for v in ledger.values()):
        raise LedgerError(f"annotation {NOTICES} is not a map of notice keys to {{id, sentAt}}")
    return ledger


def decide(ledger: Ledger, key: str) -> Literal["send", "done", "unconfirmed"]:
    entry = ledger.get(key)
    if entry is None:
        return "send"
    return "done" if entry.get("sentAt") else "unconfirmed"


def dump(ledger: Ledger, month: str) -> str:
    """The record to write: past months' monthly notices left out."""
    kept = {k: v for k, v in ledger.items() if not ((m := MONTHLY_KEY.match(k)) and m.group(1) < month)}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def message(spec: CommunityHubSpec, namespace: str, name: str, notice: Notice, *, sender: str, support_url: str,
            support_email: str, domain: str = "communityhub.local") -> EmailMessage:
    context: dict[str, Any] = {
        "community": spec.community.display_name, "url": render.hub_url(spec), "text": notice.text,
        "support_url": support_url, "support_email": support_email, "reference": f"{namespace}/{name}",
        "key": notice.key,
    }
    msg = envelope(spec, namespace, name, notice.subject, "notice", sender=sender, domain=domain)
    msg["X-CommunityHub-Notice"] = notice.key
    msg.set_content(render.templates().get_template("notice.txt.j2").render(context))
    return msg
