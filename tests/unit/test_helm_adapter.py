"""The helm adapter bounds its processes and fetches a repository chart once per version.

A stand-in helm (a shell script) records when each run starts and ends and answers like helm; the
adapter's scheduling is what is under test, not helm.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import msgspec
import pytest

from communityhub.adapters.helm import Helm, Release, _release

FAKE_HELM = r"""#!/bin/sh
log="$(dirname "$0")/runs.log"
echo "start $1 $$" >> "$log"
if [ "$1" = pull ]; then
  dest=""; while [ $# -gt 0 ]; do [ "$1" = --destination ] && dest="$2"; shift; done
  sleep 0.3; echo chart > "$dest/jupyterhub-4.4.0.tgz"
else
  sleep 0.2
  echo '{"name": "r", "namespace": "n", "version": 1, "info": {"status": "deployed"},
         "chart": {"metadata": {"name": "jupyterhub", "version": "4.4.0"}}}'
fi
echo "end $$" >> "$log"
"""


def fake_helm(tmp_path: Path) -> Path:
    binary = tmp_path / "helm"
    binary.write_text(FAKE_HELM)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


def most_at_once(log: Path) -> int:
    running = peak = 0
    for line in log.read_text().splitlines():
        running += 1 if line.startswith("start") else -1
        peak = max(peak, running)
    return peak


def test_at_most_concurrency_helms_and_one_fetch_per_chart_version(tmp_path: Path) -> None:
    helm = Helm(binary=str(fake_helm(tmp_path)), concurrency=3, cache_dir=tmp_path / "cache")

    async def fleet() -> list[str]:
        results = await asyncio.gather(*(
            helm.upgrade_install(f"hub{i}", f"ns{i}", "jupyterhub", {"i": i}, version="4.4.0",
                                 repository="https://hub.jupyter.org/helm-chart/") for i in range(12)))
        return [r.chart for r in results]

    assert asyncio.run(fleet()) == ["jupyterhub-4.4.0"] * 12
    log = tmp_path / "runs.log"
    starts = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")]
    assert starts.count("pull") == 1, "the chart (and its repository index) is fetched once for all 12"
    assert starts.count("upgrade") == 12
    assert most_at_once(log) == 3
    assert [p.name for p in (tmp_path / "cache").rglob("*.tgz")] == ["jupyterhub-4.4.0.tgz"]


def test_values_given_as_a_function_are_rendered_only_once_a_slot_is_free(tmp_path: Path) -> None:
    """A fleet's passes wait for helm slots without holding their values: each is rendered right before its run."""
    helm = Helm(binary=str(fake_helm(tmp_path)), concurrency=2, cache_dir=tmp_path / "cache")
    log = tmp_path / "runs.log"

    def values(i: int) -> dict[str, int]:
        with log.open("a") as out:
            out.write(f"render {i}\n")
        return {"i": i}

    async def fleet() -> None:
        await asyncio.gather(*(helm.upgrade_install(f"hub{i}", f"ns{i}", "./chart", lambda i=i: values(i))
                               for i in range(6)))

    asyncio.run(fleet())
    lines = log.read_text().splitlines()
    assert sum(line.startswith("render") for line in lines) == 6
    # Never more renders than free slots ahead of the runs: at most 2 renders before the first run ends.
    first_end = next(n for n, line in enumerate(lines) if line.startswith("end"))
    assert sum(line.startswith("render") for line in lines[:first_end]) == 2


def test_a_release_is_read_from_helms_json_without_its_chart_files() -> None:
    """Of helm's ``--output json`` (650 KB for the JupyterHub chart) the operator keeps five fields."""
    doc = {"name": "hub0001-abc", "info": {"status": "deployed", "notes": "x" * 1000},
           "chart": {"metadata": {"name": "jupyterhub", "version": "4.4.0", "kubeVersion": ">=1.28"},
                     "templates": [{"name": f"templates/t{i}.yaml", "data": "e30=" * 500} for i in range(40)],
                     "schema": "e30=" * 50_000, "values": {"hub": {"image": {"name": "k8s-hub"}}}},
           "config": {"hub": {}}, "manifest": "---\n" * 1000, "version": 3, "namespace": "hub-ns"}
    assert _release(json.dumps(doc).encode()) == Release("hub0001-abc", "hub-ns", 3, "deployed", "jupyterhub-4.4.0")
    # helm status leaves the chart out: the release is still read.
    assert _release(b'{"name": "r", "namespace": "n", "version": 1, "info": {"status": "failed"}}').chart == "?-?"
    with pytest.raises(msgspec.ValidationError, match="version"):
        _release(b'{"name": "r", "namespace": "n"}')
