"""Argo CD's health check for CommunityHub, run as Argo CD runs it (Lua), against its own test objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from tests.conftest import REPO

CUSTOMIZATION = REPO / "argocd" / "resource_customizations" / "hubs.2i2c.org" / "CommunityHub"
TESTS = yaml.safe_load((CUSTOMIZATION / "health_test.yaml").read_text())["tests"]


def health(obj: dict[str, Any]) -> dict[str, str]:
    """health.lua with ``obj`` bound, as Argo CD's Lua VM does (lists become 1-based tables)."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((CUSTOMIZATION / "health.lua").read_text())
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize("case", TESTS, ids=lambda case: Path(case["inputPath"]).stem)
def test_health_of_each_test_object(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CUSTOMIZATION / case["inputPath"]).read_text())
    assert health(obj) == case["healthStatus"]


def test_every_status_argo_cd_knows_is_reached() -> None:
    assert {case["healthStatus"]["status"] for case in TESTS} == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_the_argocd_cm_snippet_in_the_docs_is_this_script() -> None:
    docs = (REPO / "docs" / "operations.md").read_text()
    snippet = docs[docs.index("resource.customizations.health.hubs.2i2c.org_CommunityHub: |"):]
    body = "\n".join(line[4:] for line in snippet.splitlines()[1:] if line.startswith("    ") or not line)
    assert (CUSTOMIZATION / "health.lua").read_text().strip() in body


def test_the_example_application_syncs_a_folder_of_hubs() -> None:
    app = yaml.safe_load((REPO / "examples" / "argocd" / "application.yaml").read_text())
    assert app["kind"] == "Application" and app["spec"]["source"]["path"]
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is True
