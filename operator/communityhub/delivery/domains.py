"""Who may answer to a domain (pure): a hub's domain sits under one of its class's suffixes, and is the hub's
alone across the fleet, through a claim the operator makes before the hub's first release (a ConfigMap named by
the domain's digest in the operator's namespace: the API server's create is the lock, whatever shard or cluster
the hubs are on)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from communityhub.api.conditions import Verdict
from communityhub.delivery import names, render

#: A claim's keys (ConfigMap data): what it is for, and whose it is.
DOMAIN, NAMESPACE, NAME, UID = "domain", "namespace", "name", "uid"
#: A claim on a home server's pre-made disk, not a domain (a key no domain can have: domains hold no colon).
DISK_PREFIX = "disk:"


def suffix_refusal(domain: str, suffixes: Sequence[str], class_name: str | None) -> Verdict | None:
    """None when the domain sits under one of the class's suffixes (or the class names none); else why not."""
    if not suffixes:
        return None
    wanted = domain.lower().rstrip(".")
    if any(wanted.endswith("." + s.lower().rstrip(".")) for s in suffixes):
        return None
    return Verdict.false("DomainNotAllowed",
                         f"hub.domain {domain} is not under a domain of HubClass {class_name} (its hubDomains: "
                         f"{', '.join(suffixes)}); choose a name under one of them")


def claim_manifest(domain: str, namespace: str, name: str, uid: str, operator_namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.domain_claim(domain), "namespace": operator_namespace,
                         "labels": {**render.MANAGED_BY, names.DOMAIN_CLAIM_LABEL: uid}},
            "data": {DOMAIN: domain.lower(), NAMESPACE: namespace, NAME: name, UID: uid}}


Holder = Literal["ours", "stale", "taken"]


def holder(claim: Mapping[str, str], namespace: str, name: str, uid: str, claimant_uid: str | None) -> Holder:
    """Whose an existing claim is: this hub's; stale (the hub that made it is gone, or is another hub of the same
    name made since: ``claimant_uid`` is the uid of the hub the claim names now, None when there is none); or
    another live hub's."""
    if claim.get(UID) == uid:
        return "ours"
    if claimant_uid is None or claimant_uid != claim.get(UID):
        return "stale"
    if (claim.get(NAMESPACE), claim.get(NAME)) == (namespace, name):
        return "stale"  # this hub, deleted and made again: the old one's claim
    return "taken"


def taken(domain: str, claim: Mapping[str, str]) -> Verdict:
    """The refusal names the first hub's namespace (where its owners are), never its release or cluster."""
    if domain.startswith(DISK_PREFIX):
        return Verdict.false("HomeDiskTaken",
                             f"the home server's disk {domain.removeprefix(DISK_PREFIX).split(':', 1)[1]} is the "
                             f"homes of another hub, in namespace {claim.get(NAMESPACE)}: one disk holds one hub's "
                             f"homes (spec.placement.homeDisk, or the class's homeServer.perHubValues)")
    return Verdict.false("DomainTaken",
                         f"hub.domain {domain} is the domain of another hub, in namespace {claim.get(NAMESPACE)}: "
                         f"two hubs cannot answer to one name; choose another domain")
