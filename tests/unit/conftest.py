"""Fixtures the unit tests share."""

from __future__ import annotations

from typing import Any

import pytest

from communityhub.adapters import hubconfig
from localcluster import binaries, charts


@pytest.fixture(scope="session")
def probe() -> Any:
    """probe(values, users) -> what those users get (see adapters/hubconfig.py)."""
    try:
        hubconfig.hub_python()
    except hubconfig.ProbeError as err:
        pytest.fail(str(err), pytrace=False)
    helm = binaries.ensure(["helm"])["helm"]
    chart = charts.jupyterhub_chart().archive

    def run(values: dict[str, Any], users: list[dict[str, Any]], fleet: bool = False) -> dict[str, Any]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CHUB_HELM", str(helm))
            return hubconfig.probe(values, chart, users, fleet=fleet)
    return run
