"""What the operator keeps of each hub, kept small.

Kopf keeps every hub's latest body for as long as the hub lives (its resync daemon reads it), so a fleet's memory
grows with the size of a parsed body. Two things make one larger than it needs to be: the managed fields, a third
of it, which no handler reads; and JSON parsing, which gives every hub its own copy of every key ("type",
"lastTransitionTime"...) and of every repeated value ("True", a reason, a timestamp shared by several conditions).
``compact`` drops the first and shares the second through ``sys.intern`` (an interned string no longer used is
freed), which halves what a body costs (docs/benchmarks.md has the figures for a fleet). And Kopf gives every
object it watches a copy of the operator's memo, which ``SharedMemo`` makes one.
"""

from __future__ import annotations

import sys
from typing import Any

import kopf

#: Strings up to this length are shared: keys, names, reasons, times, uids. Longer ones (messages, the last
#: handled configuration) are seldom equal between hubs.
SHARED_LENGTH = 64


def compact(body: dict[str, Any]) -> None:
    """``body``, in place (Kopf holds it): without ``metadata.managedFields``, with its keys and short strings
    shared. It is equal to what it was, but for the managed fields."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    _share(body)


def _share(value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= SHARED_LENGTH else value
    if isinstance(value, dict):
        items = [(sys.intern(key) if isinstance(key, str) else key, _share(item)) for key, item in value.items()]
        value.clear()  # in place: whoever holds this dict keeps seeing it
        value.update(items)
    elif isinstance(value, list):
        value[:] = [_share(item) for item in value]
    return value


class SharedMemo(kopf.Memo):
    """The operator's memo, one for every object. Kopf gives each object it watches a shallow copy of the memo
    (a dict of the operator's 20-odd attributes, about 1 KiB), for the hubs and for each hub's three Deployments:
    4,000 copies at 1,000 hubs. The operator keeps no per-object state in it (only ``startup`` sets its
    attributes; per-hub state is in dicts keyed by hub), so the copy is the memo itself."""

    def __copy__(self) -> SharedMemo:
        return self
