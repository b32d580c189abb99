"""Argo CD's health checks for CommunityHub and FleetRollout, run as Argo CD runs them (Lua), against their own
test objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from tests.conftest import REPO

KINDS = ("CommunityHub", "FleetRollout")
CUSTOMIZATIONS = REPO / "argocd" / "resource_customizations" / "hubs.2i2c.org"
CASES = [(kind, case) for kind in KINDS
         for case in yaml.safe_load((CUSTOMIZATIONS / kind / "health_test.yaml").read_text())["tests"]]


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """health.lua with ``obj`` bound, as Argo CD's Lua VM does (lists become 1-based tables)."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((CUSTOMIZATIONS / kind / "health.lua").read_text())
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize(("kind", "case"), CASES, ids=lambda c: Path(c["inputPath"]).stem if isinstance(c, dict) else c)
def test_health_of_each_test_object(kind: str, case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CUSTOMIZATIONS / kind / case["inputPath"]).read_text())
    assert health(kind, obj) == case["healthStatus"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_status_argo_cd_knows_is_reached(kind: str) -> None:
    reached = {case["healthStatus"]["status"] for k, case in CASES if k == kind}
    assert reached == {"Healthy", "Progressing", "Degraded", "Suspended"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_argocd_cm_snippet_in_the_docs_is_this_script(kind: str) -> None:
    docs = (REPO / "docs" / "operations.md").read_text()
    snippet = docs[docs.index(f"resource.customizations.health.hubs.2i2c.org_{kind}: |"):]
    body = "\n".join(line[4:] for line in snippet.splitlines()[1:] if line.startswith("    ") or not line)
    assert (CUSTOMIZATIONS / kind / "health.lua").read_text().strip() in body


def test_the_example_application_syncs_a_folder_of_hubs() -> None:
    app = yaml.safe_load((REPO / "examples" / "argocd" / "application.yaml").read_text())
    assert app["kind"] == "Application" and app["spec"]["source"]["path"]
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is True
