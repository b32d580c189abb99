"""The DELIVERED email (pure): the exactly-once decision and what the message says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from communityhub.delivery import emails
from tests.unit.test_render import AUTHS, base_spec


def test_nothing_is_sent_before_ready() -> None:
    decision = emails.decide({}, ready=False, namespace="hubs", name="lab")
    assert decision.action == "wait" and decision.verdict.status == "Unknown"


def test_ready_without_a_record_sends() -> None:
    assert emails.decide({"other": "x"}, ready=True, namespace="hubs", name="lab").action == "send"


@pytest.mark.parametrize("ready", [True, False])
def test_a_recorded_send_is_done_for_good(ready: bool) -> None:
    annotations = {emails.DELIVERED_AT: "2026-11-23T10:00:00Z", emails.EMAIL_ID: "<id@x>"}
    decision = emails.decide(annotations, ready=ready, namespace="hubs", name="lab")
    assert decision.action == "done"
    assert decision.verdict.status == "True" and "2026-11-23T10:00:00Z" in decision.verdict.message


def test_a_send_interrupted_by_a_restart_is_not_repeated_and_says_how_to_resolve_it() -> None:
    decision = emails.decide({emails.EMAIL_ID: "<id@x>"}, ready=True, namespace="hubs", name="lab")
    assert decision.action == "unconfirmed"
    assert decision.verdict.reason == "DeliveryUnconfirmed"
    assert f"{emails.EMAIL_ID}-" in decision.verdict.message and emails.DELIVERED_AT in decision.verdict.message


@pytest.mark.parametrize("provider", sorted(AUTHS))
def test_message_has_url_login_admins_help_in_text_and_html(provider: str) -> None:
    spec = base_spec(auth=AUTHS[provider])
    msg = emails.message(spec, "hubs", "lab", sender="Hubs <hubs@example.org>",
                            support_url="https://help.example.org", support_email="help@example.org")
    assert msg["To"].endswith(f"<{spec.community.contact_email}>")
    assert spec.community.display_name in msg["Subject"]
    assert msg["Message-ID"].startswith("<") and "delivered.hubs.lab" in msg["Message-ID"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "https://climate-lab.hubs.example.org" in body
        assert "alice" in body
        assert "https://help.example.org" in body and "help@example.org" in body
    login = {"github": "GitHub organization org", "cilogon": "urn:mace:incommon:example.edu",
             "oidc": "https://auth.example.org/realms/hub", "oauth2": "users of Canvas (canvas.example.edu)",
             "google": "every Google account of example.edu"}[provider]
    assert login in text and login in html


def test_html_escapes_community_supplied_text() -> None:
    community = {**base_spec().community.model_dump(by_alias=True), "displayName": "Lab <script>x</script>"}
    msg = emails.message(base_spec(community=community), "hubs", "lab", sender="h@example.org",
                            support_url="", support_email="")
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "reply to this email" in msg.get_body(("plain",)).get_content()


def test_a_line_break_in_the_community_name_does_not_break_the_email_and_is_refused_now() -> None:
    """A hub stored before the schema refused it (CR/LF used to raise in the Subject header, forever)."""
    spec = base_spec()
    spec.community.display_name = "Lab\r\nBcc: someone@example.org"  # as stored by an older CRD
    msg = emails.message(spec, "hubs", "lab", sender="h@example.org", support_url="", support_email="")
    assert msg["Subject"] == "Your JupyterHub is ready: Lab Bcc: someone@example.org"
    assert "\n" not in msg["To"] and msg["Bcc"] is None
    community = {**base_spec().community.model_dump(by_alias=True), "displayName": "Lab\nBcc: x@example.org"}
    with pytest.raises(ValidationError, match=r"display_name|displayName"):
        base_spec(community=community)


def test_a_conflict_on_the_intent_is_a_retry_not_a_failure() -> None:
    """The resourceVersion guard refusing the intent means another write landed (Kopf's progress annotation,
    say): nothing went out, so it is tried again without a warning."""
    from communityhub.steps.delivered import RETRYABLE, intent_refused
    conflict = intent_refused(409, "the object has been modified")
    assert (conflict.status, conflict.reason) == ("Unknown", "Sending")
    forbidden = intent_refused(403, "forbidden")
    assert (forbidden.status, forbidden.reason) == ("False", "EmailFailed") and forbidden.reason in RETRYABLE
