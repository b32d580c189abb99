"""Kubernetes resource quantities, the few forms the API accepts for memory and storage."""

from __future__ import annotations

import re

_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")


def parse_memory(text: str) -> int:
    """Bytes in a memory quantity such as ``4Gi`` or ``512M``."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"not a memory quantity: {text!r}")
    return int(float(match.group(1)) * _SUFFIX[match.group(2) or ""])


def parse_cpu(text: str | float | int) -> float:
    """Cores in a CPU quantity such as ``500m``, ``2`` or ``0.5``."""
    if isinstance(text, int | float):
        return float(text)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)
