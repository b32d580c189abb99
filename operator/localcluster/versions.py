"""The pinned versions of hack/versions.env (one place for the Makefile, the image and this package)."""

from __future__ import annotations

from pathlib import Path

FILE = Path(__file__).resolve().parents[2] / "hack" / "versions.env"


def read(path: Path = FILE) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


PINNED = read()
