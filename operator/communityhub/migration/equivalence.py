"""The equivalence report of ``hubctl import`` (pure): each difference in what users get between a hub today
and its imported CommunityHub (``migration.compare``), classed as an operator default that is meant to differ
(the table below, which docs/api.md lists with the same reasons) or a loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from communityhub.migration.compare import Difference
from communityhub.migration.importer import Entry, ImportedHub


@dataclasses.dataclass(frozen=True)
class Meant:
    """A difference the operator makes on purpose: in ``kind`` (authenticator, hub, server), at ``path`` or
    under it."""

    kind: str
    path: str
    why: str

    def covers(self, difference: Difference) -> bool:
        kind = difference.where.split(" ", 1)[0]
        return kind == self.kind and (difference.path == self.path or difference.path.startswith(self.path + "."))


#: The operator's defaults that differ from a provider's chart on purpose (docs/api.md, "Meant to differ").
MEANT: tuple[Meant, ...] = (
    Meant("server", "initContainers.block-cloud-metadata",
          "the chart's iptables init container needs NET_ADMIN as root, which the hub namespace's Pod Security "
          "level (baseline) refuses; the hub's NetworkPolicy blocks the cloud metadata server instead"),
    Meant("hub", "services.communityhub-usage",
          "the operator's metering service (its token in a Secret of the hub's namespace): usage and cost"),
    Meant("hub", "roles.communityhub-usage",
          "the metering service's role: list users, read their activity and servers, nothing else"),
    Meant("hub", "load_roles.communityhub-usage", "the metering service's role (as above)"),
)


def classify(found: Sequence[Difference]) -> tuple[list[dict[str, Any]], list[Entry]]:
    """(every difference with its class, the losses among them)."""
    rows, lost = [], []
    for d in found:
        meant = next((m for m in MEANT if m.covers(d)), None)
        rows.append({**d.as_dict(), "class": "meant" if meant else "lost",
                     **({"why": meant.why} if meant else {})})
        if meant is None:
            lost.append(Entry(f"users get {d.path} differently ({d.where})", d.path))
    return rows, lost


def hub_report(hub: ImportedHub, found: Sequence[Difference] | None) -> dict[str, Any]:
    """One hub's entry of ``hubctl import -o json``. ``found`` None: the comparison did not run (it says why in
    ``notes``), and the hub is not called typed."""
    rows, lost = classify(found) if found is not None else ([], [])
    all_lost = [*hub.lost, *lost]
    return {"cluster": hub.cluster, "name": hub.name, "namespace": hub.namespace, "hubClass": hub.hub_class,
            "typed": found is not None and not all_lost and not hub.hatches,
            "compared": found is not None,
            "lost": [e.as_dict() for e in all_lost], "hatches": [e.as_dict() for e in hub.hatches],
            "differences": rows, "notes": list(hub.notes)}
