"""The leader-election decision (pure): who may take the Lease."""

from __future__ import annotations

import datetime as dt

import pytest

from communityhub.leader import decide, identity

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
