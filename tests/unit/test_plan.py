"""``hubctl plan`` (issue 34): what merging a directory of manifests would do to each hub, before it merges.

Pure: both sides are rendered as the hub step renders them. ``tests/integration/test_hub_class.py`` checks the
plan's ``helm`` against what the operator then does on the local control plane (a class change moves each of its
hubs' releases once; a change the plan calls no helm run moves none)."""

from __future__ import annotations

import base64
import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.cli import hubctl
from communityhub.fleet import plan
from communityhub.money import cost
from tests.conftest import REPO

DEFAULTS = plan.Defaults()


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REPO / "examples" / name).read_text()) if d]


def the(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs(name) if d.get("kind") == kind]
    return copy.deepcopy(found[-1])


def lab(name: str, klass: str | None = "basehub", **spec: Any) -> dict[str, Any]:
    hub = the("CommunityHub", "climate-lab.yaml")
    hub["metadata"] = {"name": name, "namespace": "hubs"}
    hub["spec"]["hub"]["domain"] = f"{name}.hubs.example.org"
    if klass:
        hub["spec"]["hubClassName"] = klass
    hub["spec"].update(spec)
    return hub


def basehub(name: str = "basehub", **values: Any) -> dict[str, Any]:
    klass = the("HubClass", "hubclasses/basehub.yaml")
    klass["metadata"] = {"name": name}
    klass["spec"]["values"] = {**klass["spec"].get("values", {}), **values}
    return klass


def fleet(*objects: dict[str, Any]) -> plan.Objects:
    return plan.objects(objects)


def run(before: plan.Objects, change: plan.Objects) -> dict[str, Any]:
    return plan.plan(before, change.over(before), DEFAULTS, cost.catalog())


def by_hub(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{h['namespace']}/{h['name']}": h for h in result["hubs"]}


def test_a_class_edit_runs_helm_for_its_hubs_only_and_shows_the_values_that_move() -> None:
    before = fleet(basehub(), basehub("other"), lab("a"), lab("b"), lab("c", "other"))
    result = run(before, fleet(basehub(cull={"timeout": 7200})))
    hubs = by_hub(result)
    assert set(hubs) == {"hubs/a", "hubs/b"}, "hub c is on another class: untouched"
    for entry in hubs.values():
        assert entry["helm"] is True and entry["change"] == "its class"
        assert {"path": "cull.timeout", "before": 14400, "after": 7200} in entry["valuesDiff"]
        assert {"path": "cull.maxAge", "before": 604800, "after": None} in entry["valuesDiff"]
    assert result["objects"] == [{"kind": "HubClass", "name": "basehub", "change": "changed"}]


def test_a_label_or_a_class_edit_that_renders_the_same_runs_no_helm() -> None:
    before = fleet(basehub(), lab("a"))
    relabelled = lab("a")
    relabelled["metadata"]["labels"] = {"wave": "canary"}
    hubs = by_hub(run(before, fleet(relabelled)))
    assert hubs["hubs/a"]["helm"] is False and hubs["hubs/a"]["valuesDiff"] == []
    klass = basehub()
    klass["spec"]["description"] = "reworded"  # the class changes; what it renders does not
    hubs = by_hub(run(before, fleet(klass)))
    assert hubs["hubs/a"]["helm"] is False
    assert run(before, fleet(basehub(), lab("a")))["objects"] == [], "the same manifests: nothing changes"


def test_a_refusal_is_seen_before_merge_and_fails_the_job(tmp_path: Path) -> None:
    before = fleet(basehub(), lab("a"))
    declined = lab("a")
    declined["spec"]["hub"]["declinedValues"] = ["shared-directory"]
    hubs = by_hub(run(before, fleet(declined)))
    (refused,) = [c for c in hubs["hubs/a"]["conditions"] if c["status"] == "False"]
    assert (refused["type"], refused["reason"]) == ("HubReady", "ValuesNotOptional")
    snapshot, change = tmp_path / "snapshot.yaml", tmp_path / "pr"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [basehub(), lab("a")]}))
    change.mkdir()
    (change / "a.yaml").write_text(yaml.safe_dump(declined))
    assert hubctl.main(["plan", str(change), "--snapshot", str(snapshot), "-o", "json"]) == 1
    (change / "a.yaml").write_text(yaml.safe_dump(lab("a", **{"hubClassName": "basehub"})))
    assert hubctl.main(["plan", str(change), "--snapshot", str(snapshot)]) == 0


def test_a_manifest_the_api_refuses_is_named_not_rendered() -> None:
    broken = lab("a")
    broken["spec"]["hub"]["domain"] = "not a domain"
    hubs = by_hub(run(fleet(basehub(), lab("a")), fleet(broken)))
    assert hubs["hubs/a"]["change"] == "invalid" and hubs["hubs/a"]["helm"] is False
    assert hubs["hubs/a"]["conditions"][0]["reason"] == "Invalid" and "domain" in hubs["hubs/a"]["conditions"][0][
        "message"]


def test_a_value_under_a_secret_name_is_never_shown() -> None:
    before = fleet(basehub(), lab("a"))
    leaky = basehub(hub={"extraEnv": {"API_TOKEN": "tok-1234-secret-value"}})
    entry = by_hub(run(before, fleet(leaky)))["hubs/a"]
    (row,) = [d for d in entry["valuesDiff"] if d["path"] == "hub.extraEnv.API_TOKEN"]
    assert row["before"] is None and row["after"].startswith("(hidden: ")
    assert "tok-1234" not in json.dumps(entry) and "tok-1234" not in plan.markdown({"objects": [{
        "kind": "HubClass", "name": "basehub", "change": "changed"}], "hubs": [entry], "rollouts": []})


def test_a_dedicated_hub_shows_its_estimate_before_and_after() -> None:
    hub = the("CommunityHub", "dedicated-gcp.yaml")
    bigger = copy.deepcopy(hub)
    bigger["spec"]["placement"]["dedicated"]["nodePools"][0]["max"] += 3
    entry = by_hub(run(fleet(hub), fleet(bigger)))[f"{hub['metadata']['namespace']}/{hub['metadata']['name']}"]
    before, after = entry["estimate"]["before"], entry["estimate"]["after"]
    assert after["monthlyCloudUSDMax"] > before["monthlyCloudUSDMax"]
    assert before["monthlyCloudUSDMin"] == after["monthlyCloudUSDMin"]


def test_a_new_hub_and_a_deleted_one_and_the_pull_request_comment() -> None:
    before = fleet(basehub(), lab("gone"))
    after = fleet(basehub(), lab("new"))
    result = plan.plan(before, after, DEFAULTS, cost.catalog())
    hubs = by_hub(result)
    assert hubs["hubs/new"]["change"] == "created" and hubs["hubs/new"]["helm"] is True
    assert hubs["hubs/gone"]["change"] == "deleted" and hubs["hubs/gone"]["helm"] is False
    text = plan.markdown(result)
    assert "| CommunityHub `hubs/new` | created |" in text and "<code>hubs/gone</code>: deleted" in text
    assert "**1 of 2 touched hubs run helm.**" in text


@pytest.mark.parametrize("example", ["examples/ci/hubctl-plan.yaml"])
def test_the_example_ci_job_runs_the_plan_and_posts_markdown(example: str) -> None:
    workflow = yaml.safe_load((REPO / example).read_text())
    steps = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("hubctl plan" in s and "-o markdown" in s for s in steps)


def fleet_examples() -> list[dict[str, Any]]:
    """examples/fleet/ as a provider keeps it: its classes and the 13 fleet hubs (with their Secrets)."""
    return [d for f in sorted((REPO / "examples" / "fleet").glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]


def test_a_changed_copy_of_the_fleet_examples_names_exactly_the_hubs_it_touches(tmp_path: Path,
                                                                                  capsys: Any) -> None:
    """The fleet's examples as the cluster holds them; a pull request changes the eks-research class and one hub
    of gke-shared: the plan names exactly nasa-cryo and openscapes (the class's) and jackeddy, shows no Secret's
    value, and a refusal among them fails the job."""
    snapshot = tmp_path / "cluster.yaml"
    snapshot.write_text(yaml.safe_dump_all(fleet_examples()))
    change = tmp_path / "pr"
    shutil.copytree(REPO / "examples" / "fleet", change, ignore=shutil.ignore_patterns("imported"))
    classes = list(yaml.safe_load_all((change / "classes.yaml").read_text()))
    (eks,) = [c for c in classes if c and c["metadata"]["name"] == "eks-research"]
    eks["spec"]["values"].setdefault("cull", {})["timeout"] = 1800
    (change / "classes.yaml").write_text(yaml.safe_dump_all(classes))
    docs_ = list(yaml.safe_load_all((change / "jackeddy.yaml").read_text()))
    (jackeddy,) = [d for d in docs_ if d and d.get("kind") == "CommunityHub"]
    jackeddy["spec"]["hub"]["adminUsers"] = [*jackeddy["spec"]["hub"].get("adminUsers", []), "new-admin"]
    (change / "jackeddy.yaml").write_text(yaml.safe_dump_all(docs_))
    assert hubctl.main(["plan", str(change), "--snapshot", str(snapshot), "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    hubs = {h["name"]: h for h in result["hubs"]}
    assert set(hubs) == {"nasa-cryo", "openscapes", "jackeddy"}
    assert all(h["helm"] for h in hubs.values())
    assert any(d["path"] == "cull.timeout" and d["after"] == 1800 for d in hubs["openscapes"]["valuesDiff"])
    assert any(d["path"] == "hub.config.Authenticator.admin_users" for d in hubs["jackeddy"]["valuesDiff"])
    secrets = [base64.b64decode(v).decode() if k == "data" else v
               for d in fleet_examples() if d.get("kind") == "Secret"
               for k in ("data", "stringData") for v in (d.get(k) or {}).values()]
    shown = json.dumps(result)
    assert secrets and not [s for s in secrets if len(s) > 6 and s in shown]
    jackeddy["spec"]["hub"]["declinedValues"] = ["not-offered"]
    (change / "jackeddy.yaml").write_text(yaml.safe_dump_all(docs_))
    assert hubctl.main(["plan", str(change), "--snapshot", str(snapshot), "-o", "markdown"]) == 1
    assert "HubReady False ValuesNotOptional" in capsys.readouterr().out
