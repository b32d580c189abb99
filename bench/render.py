"""What a hub's values cost to render on every pass (the hash that decides whether helm runs), without a
HubClass and with the fleet examples' classes (the layering adds a deep copy and two merges).

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from communityhub.api.models import CommunityHub, HubClassSpec  # noqa: E402
from communityhub.delivery import render  # noqa: E402


def hub(path: Path) -> CommunityHub:
    return CommunityHub.model_validate(next(d for d in yaml.safe_load_all(path.read_text())
                                            if d and d.get("kind") == "CommunityHub"))


def per_call(label: str, call: Callable[[], Any], count: int = 2000) -> None:
    call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    print(f"{label}: {(time.perf_counter() - started) / count * 1e3:.3f} ms a render")


def main() -> None:
    classes = {d["metadata"]["name"]: HubClassSpec.model_validate(d["spec"])
               for d in yaml.safe_load_all((REPO / "examples" / "fleet" / "classes.yaml").read_text()) if d}
    climate, cryo = hub(REPO / "examples" / "climate-lab.yaml"), hub(REPO / "examples" / "fleet" / "nasa-cryo.yaml")
    gke, eks = classes["gke-shared"], classes["eks-research"]
    per_call("climate-lab, no class", lambda: render.values("hubs", "climate-lab", climate.spec))
    per_call("climate-lab, class gke-shared", lambda: render.values(
        "hubs", "climate-lab", climate.spec, class_values=gke.values, catalog=gke))
    per_call("nasa-cryo, class eks-research (3 profiles, image choices)", lambda: render.values(
        "nasa-cryo", "nasa-cryo", cryo.spec, class_values=eks.values, catalog=eks))


if __name__ == "__main__":
    main()
