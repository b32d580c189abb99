"""Decommissioning that keeps what the community owns (pure): which volumes stay, and what the last
condition, Event and the DECOMMISSIONED email say was kept and what is left to revoke by hand.

With ``lifecycle.decommission.volumes: Retain`` (the default) every volume bound to a claim in the hub's
namespace gets reclaim policy Retain and the labels below before the namespace goes: it outlives its
claim (status Released), and ``kubectl get pv -l hubs.2i2c.org/decommissioned-from=<namespace>.<name>``
finds it. The OAuth client and the DNS name are the community's or the provider's, not the operator's:
listed, never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import GROUP, CommunityHubSpec
from communityhub.delivery import render
from communityhub.fleet.lifecycle import Notice

DECOMMISSIONED = "Decommissioned"
#: On a kept volume: which hub it was (namespace.name of the CommunityHub) and which claim.
FROM_LABEL = f"{GROUP}/decommissioned-from"
CLAIM_ANNOTATION = f"{GROUP}/claim"
NOTICE_KEY = "decommissioned"


def volume_labels(namespace: str, name: str) -> dict[str, str]:
    return {FROM_LABEL: render.label_value(f"{namespace}.{name}")}


def to_keep(spec: CommunityHubSpec, volumes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The volumes to retain (none when the spec lets them go)."""
    return list(volumes) if spec.lifecycle.decommission.volumes == "Retain" else []


def _volumes(volumes: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{v['volume']} (claim {v['claim']}, {v.get('capacity') or 'size unknown'})" for v in volumes)


def summary(spec: CommunityHubSpec, namespace: str, name: str, cluster: str,
            volumes: Sequence[Mapping[str, Any]], buckets: Sequence[str] = (),
            cilogon_client: Mapping[str, Any] | None = None) -> tuple[Verdict, Notice]:
    """The final condition and the DECOMMISSIONED email: what was kept and where, and what to revoke."""
    selector = f"{FROM_LABEL}={render.label_value(f'{namespace}.{name}')}"
    if spec.lifecycle.decommission.volumes == "Retain":
        kept = (f"kept volumes {_volumes(volumes)} on cluster {cluster} (reclaim policy Retain; "
                f"kubectl get pv -l {selector})" if volumes else "no volumes to keep (the hub had none bound)")
    else:
        kept = "volumes deleted with the hub (lifecycle.decommission.volumes: Delete)"
    if buckets:
        fate = "kept in the cloud account" if spec.lifecycle.decommission.buckets == "Retain" else \
            "deleted with their objects"
        kept += f"; buckets {', '.join(buckets)} {fate} (lifecycle.decommission.buckets)"
    if spec.auth.client_secret_ref is not None:
        secret = f"{namespace}/{spec.auth.client_secret_ref.name}"
        left = (f"the {spec.auth.provider} OAuth client in Secret {secret} (callback "
                f"{render.callback_url(spec)}) and the DNS name {spec.hub.domain} are no longer used: revoke and "
                f"remove them")
    else:
        left = f"the DNS name {spec.hub.domain} is no longer used: remove it"
    client = cilogon_client or {}
    if client.get("deleted"):
        kept += f"; the CILogon client {client['clientId']} the operator registered for the hub deleted"
    elif client:
        left = (f"the CILogon client {client['clientId']} the operator registered could not be deleted "
                f"({client.get('why')}): revoke it at CILogon; {left}")
    verdict = Verdict.true("HubRemoved", f"{kept}; {left}")
    lines = [f"The JupyterHub of {spec.community.display_name} at {render.hub_url(spec)} has been "
             f"decommissioned: it no longer runs."]
    if spec.lifecycle.decommission.volumes == "Retain":
        lines.append("What was kept: " + (f"the users' home directories and the hub's database, on volumes "
                                           f"{_volumes(volumes)}. Ask us for a copy." if volumes else
                                           "nothing: the hub had no stored data."))
    else:
        lines.append("The users' home directories and the hub's database were deleted with the hub, as its "
                     "settings asked.")
    if buckets:
        lines.append(f"Your buckets {', '.join(buckets)} were "
                     + ("kept, with their files: ask us for access or a copy." if
                        spec.lifecycle.decommission.buckets == "Retain" else "deleted with their files, as the "
                                                                              "hub's settings asked."))
    if client.get("deleted"):
        lines.append(f"Its CILogon login (client {client['clientId']}), which we registered for it, was deleted.")
    lines.append(f"No longer used, to revoke or remove on your side: the {spec.auth.provider} OAuth client "
                 f"(callback {render.callback_url(spec)}) and the DNS name {spec.hub.domain}."
                 if spec.auth.client_secret_ref is not None else
                 f"No longer used, to remove on your side: the DNS name {spec.hub.domain}.")
    return verdict, Notice(NOTICE_KEY, "Your JupyterHub has been decommissioned", "\n\n".join(lines))
