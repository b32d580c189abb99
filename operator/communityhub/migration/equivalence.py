"""The equivalence report of ``hubctl import`` (pure): each difference in what users get between a hub today
and its imported CommunityHub (``migration.compare``), classed as an operator default that is meant to differ
(the table below, which docs/api.md lists with the same reasons) or a loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
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
    #: Meant only where this holds of the difference (the operator's own value on its side, say).
    when: Callable[[Difference], bool] | None = None

    def covers(self, difference: Difference) -> bool:
        kind = difference.where.split(" ", 1)[0]
        at = difference.path == self.path or difference.path.startswith(self.path + ".")
        return kind == self.kind and at and (self.when is None or self.when(difference))


def _hub_is(value: Any) -> Callable[[Difference], bool]:
    return lambda d: d.hub == value


def _both_callables(d: Difference) -> bool:
    return all(isinstance(v, str) and v.startswith("<callable") for v in (d.source, d.hub))


#: What the operator grants users for the services it runs in a hub (dask.hub_values, binder.user_role_config).
OPERATOR_ACCESS = frozenset({"access:services!service=dask-gateway", "access:services!service=binder"})


def _only_operator_access(d: Difference) -> bool:
    """The hub's role holds the source's scopes, and besides them only access to the operator's services."""
    source, hub = set(d.source or []), set(d.hub or [])
    return source <= hub and bool(hub - source) and hub - source <= OPERATOR_ACCESS


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
    Meant("hub", "named_server_limit_per_user",
          "each named server is a server on the hub's quota: at most 5 per user unless the hub says more "
          "(environment.namedServers.limitPerUser, up to 20), never unlimited", _hub_is(5)),
    Meant("authenticator", "scope",
          "the operator asks CILogon for what the username and groups need (openid, email, "
          "org.cilogon.userinfo), not the profile scope (names) oauthenticator adds by default",
          _hub_is(["openid", "email", "org.cilogon.userinfo"])),
    Meant("server", "env.DASK_GATEWAY__PROXY_ADDRESS",
          "a daskhub's gateway is the operator's own release in the hub's namespace (spec.dask): its users' Dask "
          "clients reach its Traefik (traefik-<release>-dask), where the wrapper chart's gateway had its own name",
          lambda d: isinstance(d.hub, str) and d.hub.startswith("gateway://traefik-") and d.hub.endswith("-dask:80")),
    Meant("roles", "user.scopes",
          "users may use the services the operator runs for their hub (its Dask Gateway, its image builder): their "
          "role grants access to them, whatever the class's role holds", _only_operator_access),
    Meant("roles", "server.scopes",
          "a server's token (what a notebook's Gateway() holds) may use the hub's Dask Gateway", _only_operator_access),
    Meant("authenticator", "auth_state_groups_key",
          "the operator's own function makes the identity provider's teams or groups the hub's groups "
          "(org:team for GitHub) where the class's own function did; what each group's member is offered is "
          "compared server by server", _both_callables),
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
            # Weaker than typed: through the chart, users get the same (hatches and what the operator does not
            # run, such as home quotas, may still carry or lack parts of it).
            "sameForUsers": found is not None and not lost,
            # The issues whose features alone keep this hub from typed (none of this one's left).
            "typedButFor": sorted({e.issue for e in [*all_lost, *hub.hatches] if e.issue})
            if found is not None and all(e.issue for e in [*all_lost, *hub.hatches]) else None,
            "lost": [e.as_dict() for e in all_lost], "hatches": [e.as_dict() for e in hub.hatches],
            "meant": [e.as_dict() for e in hub.meant],
            "differences": rows, "notes": list(hub.notes)}
