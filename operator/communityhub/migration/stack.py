"""A hub's chart values as helm computes them from a stack of values files (pure)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any


def helm_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of one values layer over another: maps merge key by key, lists and scalars are
    replaced, and a null removes the key (how a provider drops a default)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged(layers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The layers merged in order (helm's: the chart's values.yaml first, the last --values file last)."""
    out: dict[str, Any] = {}
    for layer in layers:
        out = helm_merge(out, layer or {})
    return out


def under(values: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The values a dependency chart receives: a wrapper chart's values under ``keys`` (``jupyterhub``, or
    ``basehub.jupyterhub`` for a chart that wraps the wrapper); empty where absent."""
    node: Any = values
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return copy.deepcopy(node) if isinstance(node, dict) else {}
