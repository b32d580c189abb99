"""What a hub's other releases add to its JupyterHub release (pure): a daskhub's gateway, an image builder. One
place, so the operator's deploy and ``hubctl``'s comparisons render the same hub."""

from __future__ import annotations

from typing import Any

from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.delivery import binder, dask, render
from communityhub.delivery.names import HubNames


def hub_side(spec: CommunityHubSpec, hub_class: HubClassSpec | None, hub_names: HubNames) -> list[dict[str, Any]]:
    """The values each of the hub's other releases adds to its JupyterHub release ({} where it has none)."""
    return [dask.hub_values(spec, hub_names.dask_release),
            binder.hub_values(spec, hub_class, hub_names.binder_release, render.hub_url(spec))]


def with_hub_side(values: dict[str, Any], spec: CommunityHubSpec, hub_class: HubClassSpec | None,
                  hub_names: HubNames) -> dict[str, Any]:
    for extra in hub_side(spec, hub_class, hub_names):
        if extra:
            values = render.deep_merge(values, extra)
    return values
