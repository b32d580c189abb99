"""The source side of ``hubctl import``'s equivalence report (issue 31), over the real fleet in
``../shared/fleet/`` (29 hubs of 11 clusters, unmodified): each hub's values stack is read as the 2i2c deployer
reads it (cluster.yaml, the wrapper chart's values.yaml and values.jsonnet, its values files in helm's order),
and the JupyterHub chart's own hub configuration loads it in the hub's software, giving the pods its users get.

The hubs whose configuration does not load are named, with the hub configuration's own words: if one more
fails, or one of them starts loading, this test says so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from communityhub.adapters import deployer, hubconfig
from communityhub.delivery import render
from communityhub.migration import stack
from tests.conftest import REPO

FLEET = REPO.parent / "shared" / "fleet" / "2i2c-infrastructure"
USERS = [{"name": "ann.lee@example.org", "admin": False, "groups": []}]
#: Hubs whose own configuration JupyterHub refuses here, and the words it refuses them with. None: aimatx's
#: common.values.yaml nests `Authenticator:` inside `GitHubOAuthenticator:` (a plain dict under a section), which
#: its hub ignores; the probe refused it only because it copied the loaded config once more (traitlets' deepcopy
#: checks sections), and both aimatx hubs were left uncompared.
DO_NOT_LOAD: dict[tuple[str, str], str] = {}

#: Hubs whose configuration loads but whose server the probe cannot make, and why (left for issue 33).
NO_SERVER = {
    # basehub's BinderSpawnerMixin reads the server a running hub gives a spawner, which the probe has none of.
    ("projectpythia", "pythia-binder"): "object has no attribute 'base_url'",
}


def sources() -> list[deployer.HubSource]:
    if not FLEET.is_dir():
        pytest.skip(f"the fleet's configuration is not beside the project ({FLEET})")
    return [hub for cluster in sorted((FLEET / "config" / "clusters").iterdir())
            for hub in deployer.read_cluster(cluster, FLEET / "helm-charts")]


def test_helm_merge_replaces_lists_merges_maps_and_drops_nulls() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert stack.helm_merge(base, {"a": {"c": [3]}, "d": None, "e": 2}) == {"a": {"b": 1, "c": [3]}, "e": 2}
    assert stack.under(render.nested({"x": 1}, ("basehub", "jupyterhub")), ("basehub", "jupyterhub")) == {"x": 1}


def test_every_hub_of_the_fleet_is_read_with_its_values_stack() -> None:
    hubs = sources()
    assert len(hubs) == 29 and len({h.cluster for h in hubs}) == 11
    assert {h.chart for h in hubs} == {"basehub", "daskhub"}
    for hub in hubs:
        # Every readable file is a layer; the encrypted ones (the hubs' secrets) are the only ones missing.
        assert hub.files and all(Path(name).name.startswith("enc-") for name in hub.missing), hub
        assert hub.values.get("hub") and hub.values.get("singleuser"), (hub.cluster, hub.name)
    cryo = next(h for h in hubs if (h.cluster, h.name) == ("nasa-cryo", "prod"))
    # A daskhub's JupyterHub values come from basehub's values.yaml, under basehub.jupyterhub.
    assert cryo.chart == "daskhub" and cryo.values["singleuser"]["storage"]["static"]["subPath"] == \
        "{escaped_username}"


def test_the_chart_hub_config_loads_every_source_hub(probe: Any) -> None:
    hubs = sources()

    def load(hub: deployer.HubSource) -> tuple[tuple[str, str], dict[str, Any] | str]:
        try:
            return (hub.cluster, hub.name), probe(hub.values, USERS, fleet=True)
        except hubconfig.ProbeError as err:
            return (hub.cluster, hub.name), str(err)

    with ThreadPoolExecutor(2) as pool:
        results = dict(pool.map(load, hubs))
    failed = {key: text for key, text in results.items() if isinstance(text, str)}
    assert set(failed) == set(DO_NOT_LOAD), {k: v[-400:] for k, v in failed.items()}
    for key, words in DO_NOT_LOAD.items():
        assert words in failed[key]
    # aimatx's misplaced admins are ignored, as its hub ignores them (a JupyterHub started on that config makes no
    # such admin), while its staff are admins.
    aimatx = results[("aimatx-2i2c-hub", "prod")]
    assert not isinstance(aimatx, str)
    assert "philrodoni" not in aimatx["authenticator"]["admin_users"] and \
        "choldgraf" in aimatx["authenticator"]["admin_users"]
    homes: dict[tuple[str, str], str | None] = {}
    for key, answer in results.items():
        if isinstance(answer, str):
            continue
        assert answer["authenticator"]["class"], key
        served = [s for s in answer["servers"] if "pod" in s]
        if key in NO_SERVER:
            assert not served and all(NO_SERVER[key] in s["error"] for s in answer["servers"]), answer["servers"]
            continue
        if not served:
            # A hub that offers its profiles, or their choices, to some groups only refuses a user of none: the
            # profile filter's 403, or KubeSpawner finding no choice left to default to.
            assert all("HTTP 403" in s["error"] or "Unable to determine a default choice" in s["error"]
                       for s in answer["servers"]), (key, answer["servers"])
            continue
        home = next((m for m in served[0]["pod"]["spec"]["containers"][0].get("volumeMounts") or []
                     if m["mountPath"] == "/home/jovyan"), {})
        # The fleet's homes on a share are the escaped name (what homeDirectory: escapedUsername gives a moved
        # hub); a hub without a home mount (a binder) has none.
        assert home.get("subPath") in ("ann-2elee-40example-2eorg", None), (key, home)
        homes[key] = home.get("subPath")
    assert sum(1 for sub in homes.values() if sub) >= 19, homes
