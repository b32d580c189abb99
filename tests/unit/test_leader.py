"""The leader-election decision (pure): who may take the Lease."""

from __future__ import annotations

import datetime as dt
import socket
import urllib.error
import urllib.request

import pytest

from communityhub.runtime import leader
from communityhub.runtime.leader import decide, identity

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def test_a_free_or_own_lease_is_taken() -> None:
    assert decide(None, None, 15, "me", NOW).take
    assert decide("", NOW, 15, "me", NOW).take
    assert decide("me", NOW - dt.timedelta(seconds=60), 15, "me", NOW).take


def test_a_live_lease_of_another_is_respected_until_it_expires() -> None:
    fresh = decide("other", NOW - dt.timedelta(seconds=14), 15, "me", NOW)
    assert not fresh.take and "other" in fresh.why
    expired = decide("other", NOW - dt.timedelta(seconds=16), 15, "me", NOW)
    assert expired.take and "did not renew for 15s" in expired.why


def test_the_pod_name_the_chart_sets_names_the_holder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "communityhub-operator-7d9f-abcde")
    assert identity().startswith("communityhub-operator-7d9f-abcde_")


def test_a_standby_answers_its_liveness_probe_until_kopf_takes_the_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    standby = leader.StandbyHealth(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200 and response.read() == b"standby\n"
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        raise AssertionError("only /healthz answers")
    except urllib.error.HTTPError as err:
        assert err.code == 404
    standby.stop()
    with socket.socket() as kopf_port:  # free again for Kopf's own endpoint
        kopf_port.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        kopf_port.bind(("0.0.0.0", port))
