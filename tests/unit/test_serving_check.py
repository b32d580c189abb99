"""The serving check, decided (delivery/serving.py): what each outcome says, when a hub is due one, and how the
hub registers the checker (through the chart's own jupyterhub_config.py, with the rendered values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.api.models import HubClassSpec, ServingCheck
from communityhub.delivery import render, serving
from tests.unit.test_render import base_spec

# What KubeSpawner relays from the pod's events and what JupyterHub adds when a spawn fails (their own words).
SCHEDULING = "2026-12-04T10:00:00Z [Warning] 0/4 nodes are available: 4 node(s) didn't match Pod's node " \
             "affinity/selector. preemption: 0/4 nodes are available"
FAILED = "Spawn failed: Timeout"


@pytest.mark.parametrize(("report", "status", "reason", "words"), [
    (serving.Report("done", seconds=12.34), "True", "ServerStarted", "ran code in 12.3s"),
    (serving.Report("token", error="Secret hubs-x/hub-serving-check-token ... is missing"), "False",
     "CheckTokenMissing", "hub-serving-check-token"),
    (serving.Report("hub", error="POST /hub/api/users/communityhub.check: HTTP 403 Action is not authorized"),
     "False", "HubAPIRefused", "HTTP 403 Action is not authorized"),
    (serving.Report("spawn", progress=("Server requested", SCHEDULING, FAILED)), "False", "ServerNotScheduled",
     "0/4 nodes are available"),
    (serving.Report("spawn", progress=("Server requested",), error="HTTP 500 Spawner failed to start "
                                                                   "[status=1]. The logs may contain details."),
     "False", "ServerExited", "Spawner failed to start [status=1]"),
    (serving.Report("spawn", progress=("Server requested", "Spawning server..."), error="not ready after 300s"),
     "False", "SpawnFailed", "Spawning server...; not ready after 300s"),
    (serving.Report("kernel", error="no reply to `print(6 * 7)` in 60s"), "False", "KernelNotAnswering",
     "its kernel did not answer: no reply"),
    (serving.Report("code", error="NameError: name 'x' is not defined", profile="gpu"), "False", "CodeFailed",
     "'gpu' server started, but `print(6 * 7)` did not print 42: NameError"),
])
def test_each_outcome_is_said_in_the_hubs_own_words(report: serving.Report, status: str, reason: str,
                                                    words: str) -> None:
    verdict = serving.verdict(report)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert words in verdict.message, verdict.message


def test_a_check_is_due_after_a_new_release_and_on_the_interval() -> None:
    now = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    at = lambda minutes_ago: conditions.rfc3339(now - dt.timedelta(minutes=minutes_ago))  # noqa: E731
    assert serving.due(None, "hash-1", now, 3600)  # never checked
    assert serving.due({"revision": "hash-0", "checkedAt": at(1), "ok": True}, "hash-1", now, 3600)  # new release
    assert not serving.due({"revision": "hash-1", "checkedAt": at(30), "ok": True}, "hash-1", now, 3600)
    assert serving.due({"revision": "hash-1", "checkedAt": at(61), "ok": True}, "hash-1", now, 3600)
    # A failed check is tried again soon, but not on every pass.
    assert not serving.due({"revision": "hash-1", "checkedAt": at(0.5), "ok": False}, "hash-1", now, 3600)
    assert serving.due({"revision": "hash-1", "checkedAt": at(2), "ok": False}, "hash-1", now, 3600)
    assert serving.due({"revision": "hash-1", "checkedAt": "yesterday", "ok": True}, "hash-1", now, 3600)


def test_a_pass_with_no_check_due_keeps_the_last_verdict() -> None:
    kept = [{"type": "ServingUsers", "status": "False", "reason": "ServerNotScheduled", "message": "m"}]
    assert serving.carried(kept, conditions.SERVING_USERS) == Verdict.false("ServerNotScheduled", "m")
    assert serving.carried([], conditions.SERVING_USERS) is None


def test_ready_waits_for_a_failed_check_and_phase_says_the_hub_is_not_serving() -> None:
    steps = {t: Verdict.true("Done") for t in conditions.STEP_CONDITIONS}
    assert conditions.summarize(steps).ok  # not checked (yet, or off): Ready as before
    failed = {**steps, conditions.SERVING_USERS: Verdict.false("ServerNotScheduled", "0/4 nodes are available")}
    ready = conditions.summarize(failed)
    assert (ready.status, ready.reason) == ("False", "ServerNotScheduled")
    assert conditions.phase(failed, was_ready=True) == "Degraded"


def test_profiles_checked() -> None:
    """The default server, or each profile's, of the rendered profile list; a profile only some groups are offered
    is not the check user's (it is in no group: the hub would refuse it, and the check would fail for nothing)."""
    key = render.ALLOWED_GROUPS_KEY
    listed = [{"slug": "small"}, {"slug": "gpu", key: ["gpu-users"]}, {"slug": "large"}]
    assert serving.profiles_to_check(listed, "default", key) == [""]
    assert serving.profiles_to_check(listed, "all", key) == ["small", "large"]
    assert serving.profiles_to_check([], "all", key) == [""]
    environment = base_spec().environment.model_dump(by_alias=True, exclude_none=True)
    environment["profiles"][-1]["allowedGroups"] = ["a"]
    rendered = render.profile_list(base_spec(environment=environment))
    assert serving.profiles_to_check(rendered, "all", key) == [p["slug"] for p in rendered[:-1]]


def test_the_class_turns_the_check_off_and_sets_its_interval() -> None:
    spec = HubClassSpec.model_validate({"servingCheck": {"enabled": False, "intervalSeconds": 900}})
    assert spec.serving_check == ServingCheck(enabled=False, interval_seconds=900)
    assert HubClassSpec().serving_check.enabled  # on unless the provider says otherwise
    with pytest.raises(ValueError, match="interval"):
        HubClassSpec.model_validate({"servingCheck": {"intervalSeconds": 10}})


def test_the_hub_registers_the_checker_with_rights_on_the_check_user_only(probe: Any) -> None:
    """Loaded by the chart's jupyterhub_config.py with the rendered values: the service and its role."""
    values = render.values("hubs", "lab", base_spec())
    env = values["hub"]["extraEnv"][serving.TOKEN_ENV]
    assert env == {"valueFrom": {"secretKeyRef": {"name": serving.TOKEN_SECRET_NAME, "key": serving.TOKEN_KEY}}}
    got = probe(values, [])
    assert serving.SERVICE in [s["name"] for s in got["services"]]
    role = next(r for r in got["roles"] if r["name"] == serving.SERVICE)
    assert role["services"] == [serving.SERVICE]
    assert sorted(role["scopes"]) == sorted(serving.SCOPES)
    assert all(scope.endswith(f"!user={serving.CHECK_USER}") for scope in role["scopes"])


def step_context(status: dict[str, Any], serving_check: bool = True, class_check: bool = True) -> Any:
    import structlog

    from communityhub.adapters.helm import Helm
    from communityhub.adapters.kube import Clusters
    from communityhub.delivery import classes, names
    from communityhub.runtime.settings import Settings
    from communityhub.steps.context import HubContext, Target

    ctx = HubContext(name="lab", namespace="hubs", generation=1, spec=base_spec(), status=status,
                     settings=Settings(serving_check=serving_check), helm=Helm(), clusters=Clusters(), deployments={},
                     shared_clusters={}, log=structlog.get_logger(), names=names.derive("hubs", "lab"),
                     hub_class=classes.Resolved("c", 1, HubClassSpec.model_validate(
                         {"servingCheck": {"enabled": class_check}})))
    ctx.target = Target("local", "hub-hubs-lab")
    ctx.release = {"valuesHash": "hash-1"}
    return ctx


CHECKED = {"conditions": [{"type": "ServingUsers", "status": "True", "reason": "ServerStarted", "message": "9.1s"}],
           "serving": {"revision": "hash-1", "checkedAt": conditions.now_rfc3339(), "ok": True, "seconds": 9.1}}


def test_the_step_checks_only_when_due_and_leaves_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step (steps/serving.py) around the adapter: not due, or the hub not otherwise Ready, carries the last
    verdict without a check and without a status field to write; turned off (the operator's setting or the
    class), the condition and status.serving leave."""
    import asyncio

    from communityhub.steps import serving as step

    checks: list[str] = []

    async def no_check(*args: Any, **kwargs: Any) -> serving.Report:
        checks.append("checked")
        return serving.Report("done", seconds=1.0)

    monkeypatch.setattr(step.hubapi, "check", no_check)
    kept = Verdict.true("ServerStarted", "9.1s")
    ctx = step_context(CHECKED)
    assert asyncio.run(step.check(ctx, ready=True)) == kept and ctx.serving is None
    ctx = step_context(CHECKED)
    assert asyncio.run(step.check(ctx, ready=False)) == kept and ctx.serving is None
    assert checks == []
    for ctx in (step_context(CHECKED, serving_check=False), step_context(CHECKED, class_check=False)):
        assert asyncio.run(step.check(ctx, ready=True)) is None and ctx.serving == {}  # {}: the field leaves
    assert checks == []
