"""SSO, the environment policy and the DELIVERED email, on the real control plane with a real SMTP server."""

from __future__ import annotations

import json
import time

import pytest

from communityhub.delivery import emails
from tests.conftest import OperatorProcess
from tests.support.hubs import RUN, create_hub, domain, hub, hub_ns, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster, condition
from tests.support.smtp import USERNAME, SmtpSink

pytestmark = pytest.mark.integration


def contact(name: str) -> str:
    return f"lead-{name}-{RUN}@example.edu"


def community(name: str, **extra: str) -> dict[str, str]:
    return {"displayName": f"Community {name}", "contactEmail": contact(name), "archetype": "research", **extra}


def test_one_delivered_email_across_an_operator_restart(management: Cluster, operator: OperatorProcess,
                                                        smtp_sink: SmtpSink) -> None:
    create_hub(management, "mail", ns("team-mail"), community=community("mail"))
    obj = wait_ready(management, "mail", ns("team-mail"))
    cond = wait_condition(management, "mail", ns("team-mail"), "Delivered", "True", "EmailSent")
    (message,) = smtp_sink.to(contact("mail"))
    assert USERNAME in smtp_sink.logins  # the login came from the operator's SMTP Secret
    assert smtp_sink.tls_sessions == len(smtp_sink.logins)  # every login went over STARTTLS
    assert message["X-CommunityHub"] == f"{ns('team-mail')}/mail"
    text = message.get_body(("plain",)).get_content()
    assert f"https://{domain('mail', ns('team-mail'))}" in text and "GitHub organization climate-lab" in text
    assert "alice" in text and "https://support.example.org" in text

    obj = hub(management, "mail", ns("team-mail"))
    assert obj is not None
    annotations = obj["metadata"]["annotations"]
    assert annotations[emails.EMAIL_ID] == message["Message-ID"]
    assert annotations[emails.DELIVERED_AT] == obj["status"]["deliveredAt"]
    assert message["Message-ID"] in cond["message"]

    # Killed right after the send was recorded, as a node failure would: the new process sends nothing.
    operator.kill_everything()
    operator.start()
    management.kubectl("annotate", "communityhub", "mail", "-n", ns("team-mail"), "unrelated=touch")
    time.sleep(8)  # several resync passes (CHUB_RESYNC_SECONDS=2)
    assert len(smtp_sink.to(contact("mail"))) == 1
    after = hub(management, "mail", ns("team-mail"))
    assert condition(after, "Delivered")["reason"] == "EmailSent"  # type: ignore[index]
    assert after["status"]["deliveredAt"] == obj["status"]["deliveredAt"]  # type: ignore[index]


def test_smtp_failure_is_retried_and_never_holds_readiness_back(
        management: Cluster, operator: OperatorProcess, smtp_sink: SmtpSink) -> None:
    smtp_sink.refusals[contact("busy")] = 2
    create_hub(management, "busy", ns("team-busy"), community=community("busy"))
    failed = wait_condition(management, "busy", ns("team-busy"), "Delivered", "False", "EmailFailed")
    assert "451" in failed["message"] and contact("busy") in failed["message"]
    assert condition(hub(management, "busy", ns("team-busy")), "Ready")["status"] == "True"  # type: ignore[index]
    wait_condition(management, "busy", ns("team-busy"), "Delivered", "True", "EmailSent", timeout=60)
    assert smtp_sink.refused.count(contact("busy")) == 2
    assert len(smtp_sink.to(contact("busy"))) == 1


def test_a_send_cut_short_by_a_crash_is_not_repeated_until_a_human_says_so(
        management: Cluster, operator: OperatorProcess, smtp_sink: SmtpSink) -> None:
    """The intent without a record is what a crash in the middle of the SMTP exchange leaves behind."""
    manifest = create_hub(management, "cut", ns("team-cut"), community=community("cut"))
    management.kubectl("annotate", "communityhub", "cut", "-n", ns("team-cut"),
                       f"{emails.EMAIL_ID}=<interrupted@test>")
    wait_ready(management, "cut", ns("team-cut"))
    cond = wait_condition(management, "cut", ns("team-cut"), "Delivered", "Unknown", "DeliveryUnconfirmed")
    assert "<interrupted@test>" in cond["message"] and f"{emails.EMAIL_ID}-" in cond["message"]
    time.sleep(5)
    assert smtp_sink.to(contact("cut")) == []
    # The human checked the mail log and asks for the email again.
    management.kubectl("annotate", "communityhub", "cut", "-n", ns("team-cut"), f"{emails.EMAIL_ID}-")
    wait_condition(management, "cut", ns("team-cut"), "Delivered", "True", "EmailSent", timeout=60)
    assert len(smtp_sink.to(contact("cut"))) == 1
    assert manifest["spec"]["community"]["contactEmail"] == contact("cut")


def test_environment_beyond_the_archetypes_limits_is_a_condition_then_fixed(
        management: Cluster, operator: OperatorProcess) -> None:
    big = {"image": "quay.io/example/nb:1", "profiles": [{"name": "huge", "cpu": 8, "memory": "64Gi"}]}
    create_hub(management, "big", ns("team-big"), environment=big,
               community=community("big", archetype="education"))
    cond = wait_condition(management, "big", ns("team-big"), "EnvironmentReady", "False", "ProfileExceedsLimits")
    assert "huge" in cond["message"] and "education" in cond["message"]
    obj = hub(management, "big", ns("team-big"))
    assert condition(obj, "HubReady")["reason"] == "WaitingForConfiguration"  # type: ignore[index]
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    fixed = {"image": "quay.io/example/nb:1", "profiles": [{"name": "huge", "cpu": 4, "memory": "16Gi"}]}
    management.kubectl("patch", "communityhub", "big", "-n", ns("team-big"), "--type=merge",
                       "-p", f'{{"spec": {{"environment": {json.dumps(fixed)}}}}}')
    obj = wait_ready(management, "big", ns("team-big"), timeout=120)
    env = condition(obj, "EnvironmentReady")
    assert env["reason"] == "EnvironmentRolledOut" and "huge" in env["message"]  # type: ignore[index]
    (profile,) = released_values(management, hub_ns("team-big", "big"))["singleuser"]["profileList"]
    assert profile["kubespawner_override"]["cpu_limit"] == 4
