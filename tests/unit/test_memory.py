"""What the operator keeps of each hub is kept small (communityhub.runtime.memory)."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import kopf
from kopf._core.reactor.inventory import ResourceMemories

from communityhub.runtime import memory

#: A delivered hub as the API server sends it (from bench/fleet.py's fleet), managed fields aside.
RAW = (Path(__file__).parent / "data" / "hub-body.json").read_text()
MANAGED_FIELDS = [{"manager": "kopf", "operation": "Update", "fieldsType": "FieldsV1",
                   "fieldsV1": {"f:status": {"f:conditions": {}}}, "time": "2026-11-29T05:21:11Z"}]


def parsed() -> dict[str, Any]:
    body = json.loads(RAW)
    body["metadata"]["managedFields"] = copy.deepcopy(MANAGED_FIELDS)
    return body


def test_a_compact_body_is_the_same_body_without_its_managed_fields() -> None:
    body = parsed()
    status, conditions = body["status"], body["status"]["conditions"]
    memory.compact(body)
    assert body == json.loads(RAW)
    assert list(body["metadata"]) == list(json.loads(RAW)["metadata"])  # the order of keys too
    # In place: whoever holds the body or a part of it (Kopf does) sees the compact one.
    assert body["status"] is status and body["status"]["conditions"] is conditions


def test_two_hubs_share_their_keys_and_short_values() -> None:
    one, two = parsed(), parsed()
    assert next(iter(one)) is not next(iter(two))  # json gives each its own
    memory.compact(one)
    memory.compact(two)
    first = one["status"]["conditions"][0], two["status"]["conditions"][0]
    assert all(a is b for a, b in zip(first[0], first[1], strict=True))  # keys
    assert first[0]["reason"] is first[1]["reason"] and first[0]["status"] is first[1]["status"]
    config = "hubs.2i2c.org/last-handled-configuration"
    assert len(one["metadata"]["annotations"][config]) > memory.SHARED_LENGTH
    assert one["metadata"]["annotations"][config] is not two["metadata"]["annotations"][config]


def _kept_bytes(compact: bool, hubs: int = 200) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        bodies = [parsed() for _ in range(hubs)]
        if compact:
            for body in bodies:
                memory.compact(body)
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(bodies) == hubs
    return kept / hubs


def test_a_compact_body_costs_less_than_half() -> None:
    full, compact = _kept_bytes(False), _kept_bytes(True)
    assert compact < full / 2, f"{compact:.0f} bytes per hub compact, {full:.0f} as parsed"


def test_every_object_kopf_remembers_shares_the_operators_memo() -> None:
    memo = memory.SharedMemo()
    memo.locks = {}

    async def recall() -> list[Any]:
        memories = ResourceMemories()
        hubs = [{"metadata": {"uid": f"uid-{i}", "name": f"hub{i}", "namespace": "team"}} for i in range(3)]
        return [(await memories.recall(hub, memobase=memo)).memo for hub in hubs]

    assert all(each is memo for each in asyncio.run(recall()))
    plain = kopf.Memo()
    assert copy.copy(plain) is not plain  # what Kopf's own memo would cost: a copy per object
