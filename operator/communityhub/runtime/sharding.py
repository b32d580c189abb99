"""Shards: several operator Deployments, each serving a part of the fleet, as Flux's sharding.fluxcd.io/key.

A hub's shard is its label ``hubs.2i2c.org/shard`` (a number below the operator's shard count). Each shard
watches only the hubs labelled with its number (a server-side selector: it never sees, keeps in memory or
writes another shard's hubs), takes its own leader Lease and runs its own helm processes. A hub without the
label is given one by the shard that a stable hash of its namespace/name names, so a provider labels only
the hubs it wants to place.

Moving a hub (relabelling it) hands it over: the old shard, whose watch now reports the hub gone, finishes the
pass it may be running and writes ``status.shard`` to the new one; the new shard waits for that (or for the
old shard's Lease to lapse: a shard scaled away hands nothing over) before its first pass. Conditions are
never reset on the way, and the release is not deployed again: its values hash is in the status.

Everything here is pure; :mod:`communityhub.main` does the watching and writing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube.operators import not_in

from communityhub.api import models

LABEL = f"{models.GROUP}/shard"


@dataclasses.dataclass(frozen=True)
class Sharding:
    """This process's shard among ``shards`` (one shard: no label, no selector, nothing written)."""

    shard: int = 0
    shards: int = 1

    def __post_init__(self) -> None:
        if self.shards < 1 or not 0 <= self.shard < self.shards:
            raise ValueError(f"shard {self.shard} of {self.shards}: a shard is a number from 0 to shards - 1")

    @property
    def enabled(self) -> bool:
        return self.shards > 1

    @property
    def me(self) -> str:
        return str(self.shard)

    @property
    def served_by(self) -> str | None:
        """What status.shard says of a hub this process serves (one shard: nothing)."""
        return self.me if self.enabled else None

    def names(self) -> list[str]:
        return [str(i) for i in range(self.shards)]

    def selector(self) -> str:
        """The hubs this shard serves, as a label selector for its watch."""
        return f"{LABEL}={self.me}"

    def unplaced_selector(self) -> dict[str, Any]:
        """Hubs no shard watches: without the label, or with one that names no shard (``notin`` matches both)."""
        return {LABEL: not_in(self.names())}

    def lease(self, base: str) -> str:
        """Each shard's own leader Lease (one shard: the unsharded operator's, unchanged)."""
        return self.lease_of(base, self.me) if self.enabled else base

    def replaces(self, base: str) -> tuple[str, ...]:
        """The Leases that must be free before this shard's is taken: a shard waits for the unsharded operator (one
        shard) to stop, which serves every hub until then (going from one shard to several: docs/operations.md)."""
        return (base,) if self.enabled else ()

    def lease_of(self, base: str, shard: str) -> str:
        return f"{base}-shard-{shard}"

    def finalizer(self, prefix: str) -> str:
        """Kopf removes its finalizer from objects it watches but has no handler for (the FleetRollouts of a shard
        that does not run them): each shard has its own, and shard 0 keeps the unsharded operator's."""
        return f"{prefix}/finalizer" if self.shard == 0 else f"{prefix}/finalizer-shard-{self.shard}"

    def foreign_finalizers(self, prefix: str, finalizers: Iterable[str]) -> list[str]:
        """Other shards' finalizers among a hub's: this shard removes them once it has taken the hub over."""
        own = self.finalizer(prefix)
        return [f for f in finalizers if f.startswith(f"{prefix}/finalizer") and f != own]

    def runs_rollouts(self) -> bool:
        """FleetRollouts span shards: shard 0 runs them, over a fleet-wide view of the hubs."""
        return self.shard == 0


def hashed(namespace: str, name: str, shards: int) -> str:
    """The shard of a hub without the label: stable across processes, versions and restarts (not Python's hash)."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % shards)


@dataclasses.dataclass(frozen=True)
class Placement:
    """What the shard that a hub's hash names does with a hub no shard watches."""

    label: str | None  # the label to set; None: leave the hub as it is
    problem: str | None = None  # why no shard can serve it (a label that names no shard)


def place(namespace: str, name: str, labels: Mapping[str, str], sharding: Sharding) -> Placement | None:
    """None: another shard's hash, not ours to place."""
    if hashed(namespace, name, sharding.shards) != sharding.me:
        return None
    value = labels.get(LABEL)
    if value is None:
        return Placement(label=hashed(namespace, name, sharding.shards))
    if value in sharding.names():
        return Placement(label=None)  # placed meanwhile: its shard's watch has it
    return Placement(label=None, problem=f"its label {LABEL}={value!r} names no shard: this operator runs shards "
                                         f"{', '.join(sharding.names())}; remove the label or set one of them")


@dataclasses.dataclass(frozen=True)
class Takeover:
    go: bool
    message: str


def takeover(served_by: str | None, sharding: Sharding, previous_alive: bool) -> Takeover:
    """May this shard act on a hub whose status says ``served_by`` served it last?

    ``previous_alive``: that shard's Lease is held and renewed (its leader may be mid-pass on the hub)."""
    if not sharding.enabled or served_by in (None, sharding.me):
        return Takeover(True, "served by this shard")
    if previous_alive:
        return Takeover(False, f"waiting for shard {served_by} to hand the hub over to shard {sharding.me}")
    return Takeover(True, f"shard {served_by} holds no Lease: shard {sharding.me} takes the hub over")
