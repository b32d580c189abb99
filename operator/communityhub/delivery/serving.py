"""The serving check, decided: whether a hub is due one, how the hub registers the checker, and what a check's
report means as the ``ServingUsers`` condition.

The check is what an SRE does after a deploy (the leading provider's own health check): as a JupyterHub service
of the hub, create a check user, start its default server, start a kernel in it through the proxy, run one
statement, stop the server and remove the user. The adapter (``adapters/hubapi.py``) does it and writes down
what it saw in a :class:`Report`; :func:`verdict` turns that into a condition in the hub's own words.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from communityhub.api import annotations as ann
from communityhub.api.conditions import Verdict, find

SERVICE = "communityhub-serving-check"
#: Reserved in every hub: not a login any of the supported identity providers hands out (GitHub logins have no
#: dot, e-mail logins have an @). The check removes it when done.
CHECK_USER = "communityhub.check"
TOKEN_SECRET_NAME = "hub-serving-check-token"
TOKEN_KEY = "token"
TOKEN_ENV = "CHUB_SERVING_CHECK_TOKEN"
#: The statement the kernel runs, and what it must print.
STATEMENT = "print(6 * 7)"
EXPECTED_OUTPUT = "42"
#: Only the check user, and only what the check does with it.
SCOPES = (f"admin:users!user={CHECK_USER}", f"servers!user={CHECK_USER}", f"access:servers!user={CHECK_USER}",
          f"read:users!user={CHECK_USER}")
#: A failed check is tried again no sooner than this (the pass's own backoff may wait longer).
RETRY_SECONDS = 60.0

Stage = Literal["token", "hub", "spawn", "kernel", "code", "done"]


@dataclasses.dataclass(frozen=True)
class Report:
    """What one check saw. ``stage`` is where it stopped ("done": the statement printed what it should)."""

    stage: Stage
    seconds: float = 0.0
    #: The hub's own words: its spawn progress messages (KubeSpawner's pod events among them), in order.
    progress: tuple[str, ...] = ()
    #: The error at ``stage``: an HTTP status and body, a timeout, the kernel's traceback name and value.
    error: str = ""
    profile: str = ""
    #: What the cluster says about the check user's pod where its spawn failed (delivery/diagnosis.py's cause: a
    #: container crash-looping with its exit code, a pod the scheduler cannot place), read before it is removed.
    pod: str = ""


#: Words of a spawn that failed because the pod could not be placed, as KubeSpawner relays the scheduler's event.
_UNSCHEDULABLE = ("FailedScheduling", "nodes are available", "Unschedulable", "didn't match", "Insufficient")
#: Words of a server that started and exited.
_EXITED = ("exited", "terminated", "CrashLoopBackOff", "Error: ", "status=", "exit code", "ExitCode")


def _last(progress: Sequence[str], count: int = 3) -> str:
    return "; ".join(progress[-count:])


def verdict(report: Report) -> Verdict:
    """``ServingUsers`` from a report: True with the time to a running kernel; False with what failed."""
    who = f"the check user's {report.profile!r} server" if report.profile else "the check user's server"
    if report.stage == "done":
        return Verdict.true("ServerStarted", f"{who} started and ran code in {report.seconds:.1f}s")
    if report.stage == "token":
        return Verdict.false("CheckTokenMissing", report.error or f"Secret {TOKEN_SECRET_NAME} is missing")
    if report.stage == "hub":
        return Verdict.false("HubAPIRefused", f"the hub's API refused the check: {report.error}")
    if report.stage == "spawn":
        words = " ".join([*report.progress, report.error, report.pod])
        if any(w in words for w in _UNSCHEDULABLE):
            reason = "ServerNotScheduled"
        elif any(w in words for w in _EXITED):
            reason = "ServerExited"
        else:
            reason = "SpawnFailed"
        said = _last([*report.progress, report.error] if report.error else report.progress) or "no progress at all"
        return Verdict.false(reason, f"{who} did not start: {said}" + (f" ({report.pod})" if report.pod else ""))
    if report.stage == "kernel":
        return Verdict.false("KernelNotAnswering", f"{who} started, but its kernel did not answer: {report.error}")
    return Verdict.false("CodeFailed", f"{who} started, but `{STATEMENT}` did not print {EXPECTED_OUTPUT}: "
                                       f"{report.error}")


def profiles_to_check(profile_list: Sequence[Mapping[str, Any]], which: Literal["default", "all"],
                      groups_key: str) -> list[str]:
    """The servers the check starts: the default one (no profile chosen, ""), or each profile's of the rendered
    ``profile_list`` but those offered only to some groups (``groups_key`` set): the check user is in none."""
    slugs = [str(p["slug"]) for p in profile_list if groups_key not in p]
    if which == "all" and slugs:
        return slugs
    return [""]


def due(last: Mapping[str, Any] | None, revision: str, now: dt.datetime, interval_seconds: float) -> bool:
    """Whether a hub is due a check: after a new release revision (``revision``: what the hub runs, its values
    hash), again ``interval_seconds`` after the last one, and after a failed one no sooner than RETRY_SECONDS.
    ``last`` is status.serving ({revision, checkedAt, ok}); a malformed one is as good as none."""
    if not last or last.get("revision") != revision:
        return True
    try:
        checked = ann.read_time(last, "checkedAt")
    except ann.AnnotationError:
        return True
    age = (now - checked).total_seconds()
    return age >= (interval_seconds if last.get("ok") else min(RETRY_SECONDS, interval_seconds))


def carried(conditions: Sequence[Mapping[str, Any]], condition_type: str) -> Verdict | None:
    """The condition as the last check left it (a pass that does not check keeps it, and writes nothing)."""
    c = find(conditions, condition_type)
    if c is None or c.get("status") not in ("True", "False"):
        return None
    return Verdict(c["status"], str(c.get("reason", "")), str(c.get("message", "")))
