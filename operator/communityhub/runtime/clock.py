"""The time the guards and metering go by: the real time, or (tests only) a time read from a file.

``CHUB_CLOCK_FILE`` names a file holding one RFC 3339 time; while it exists, that is "now" for
contract ends, budgets, inactivity, time-boxed windows and the cost ledger, so a test moves a hub
through months without sleeping. The production chart never sets it. Condition times and Events
always carry the real time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def now(clock_file: str = "") -> dt.datetime:
    if clock_file:
        try:
            text = Path(clock_file).read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)
