"""The operator killed with SIGKILL at random moments while a fleet is delivered, and one bad hub in a fleet.

Each kill takes the operator and every helm and terraform process it started (a pod kill); the next
process waits for the dead one's Lease, as a restarted pod would. Afterwards every hub must be Ready,
with one release each, nothing pending, at most one DELIVERED email (reported where unconfirmed), and
deleting the hubs must leave nothing behind. The long variant (20 hubs, 10 kills) runs with
``pytest -m long``; its figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from typing import Any

import pytest

from communityhub.delivery import names
from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess, oauth_secret
from tests.integration.test_dedicated import placement
from tests.support.hubs import hub, hub_manifest, ns, onboard, wait_condition, wait_ready
from tests.support.kube import Cluster, condition, wait_for
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration

OWNER = "hubs.2i2c.org/owner"
#: What Kopf logs when a handler raised something other than its own retry errors.
UNHANDLED = "failed with an exception"


def contact(name: str, namespace: str) -> str:
    return f"{name}@{namespace}.example.org"


def apply_fleet(cluster: Cluster, namespace: str, hubs: dict[str, dict[str, Any]]) -> None:
    """Every hub of the fleet in one apply, as a sync of a folder of manifests would."""
    onboard(cluster, namespace)
    docs: list[dict[str, Any]] = []
    for name, spec in hubs.items():
        manifest = hub_manifest(name, namespace, **spec)
        manifest["spec"]["community"]["contactEmail"] = contact(name, namespace)
        docs += [oauth_secret(f"{name}-oauth", namespace), manifest]
    cluster.apply(docs)


def releases(cluster: Cluster, helm: str) -> list[dict[str, Any]]:
    """Every helm release on the cluster, whatever its state (helm's own view, as an admin)."""
    out = subprocess.run([helm, "--kubeconfig", str(cluster.kubeconfig), "list", "-A", "--all", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    result: list[dict[str, Any]] = json.loads(out)
    return result


def owned_leftovers(cluster: Cluster, owners: set[str]) -> list[str]:
    """Namespaces and Secrets anywhere that still name one of these hubs as their owner."""
    left = []
    for kind in ("namespaces", "secrets"):
        for obj in json.loads(cluster.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]:
            if (obj["metadata"].get("annotations") or {}).get(OWNER) in owners:
                left.append(f"{kind}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}")
    return left


@pytest.mark.parametrize("count,kills", [
    pytest.param(6, 4, id="6-hubs-4-kills"),
    pytest.param(20, 10, id="20-hubs-10-kills", marks=pytest.mark.long),
])
def test_kill_9_at_random_moments_while_a_fleet_is_delivered(
        management: Cluster, operator: OperatorProcess, smtp_sink: SmtpSink, helm_bin: Any,
        count: int, kills: int) -> None:
    seed = int(os.environ.get("CHUB_TEST_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    mark = len(operator.log())
    print(f"kill moments from seed {seed} (CHUB_TEST_CRASH_SEED={seed} replays them)")
    namespace = ns(f"crash{count}")
    # One dedicated hub among them: its terraform apply is killed too (a stale state lock is taken over).
    fleet: dict[str, dict[str, Any]] = {f"c{i:02d}": {} for i in range(count - 1)}
    fleet["cdedicated"] = {"placement": placement()}
    apply_fleet(management, namespace, fleet)
    started = time.monotonic()
    for _ in range(kills):
        time.sleep(rng.uniform(0.2, 6.0))
        operator.kill_everything()
        operator.start()  # waits for the dead leader's Lease to expire, as a new pod would
    print(f"{kills} kills in {time.monotonic() - started:.0f}s")

    for name in fleet:
        wait_ready(management, name, namespace, timeout=420)

    def delivered(name: str) -> dict[str, Any] | None:
        cond = condition(hub(management, name, namespace), "Delivered")
        if cond and (cond["status"] == "True" or cond["reason"] == "DeliveryUnconfirmed"):
            return cond
        return None
    for name in fleet:
        cond = wait_for(lambda name=name: delivered(name), timeout=120, what=f"{name}: DELIVERED sent or reported")
        sent = smtp_sink.to(contact(name, namespace))
        assert len(sent) <= 1, f"{name}: {len(sent)} DELIVERED emails"
        if cond["status"] == "True":
            assert len(sent) == 1, f"{name}: Delivered=True but no email arrived"
        else:  # the operator died between sending and recording: it says so, and how to settle it
            assert "kubectl annotate" in cond["message"], cond["message"]

    by_hub = {name: names.derive(namespace, name) for name in fleet}
    found = releases(management, str(helm_bin))
    for name, derived in by_hub.items():
        mine = [r for r in found if r["name"] == derived.release]
        if name == "cdedicated":
            assert not mine, "the dedicated hub's release is on its own cluster, not here"
            continue
        assert [(r["namespace"], r["status"]) for r in mine] == [(derived.namespace, "deployed")], (name, mine)
    pending = management.kubectl("get", "secrets", "-A", "-l", "owner=helm,status in (pending-install,"
                                 "pending-upgrade,pending-rollback)", "-o", "name").stdout.split()
    assert not pending, pending

    management.kubectl("-n", namespace, "delete", "communityhubs", "--all", "--timeout=420s")
    owners = {names.owner(namespace, name) for name in fleet}
    assert not owned_leftovers(management, owners)
    assert not [r for r in releases(management, str(helm_bin))
                if r["name"] in {d.release for d in by_hub.values()}]
    dedicated = by_hub["cdedicated"]
    for kind, obj in (("secret", dedicated.state_secret), ("secret", dedicated.kubeconfig_secret),
                      ("lease", dedicated.lock_lease)):
        assert management.get(kind, obj, OPERATOR_NAMESPACE) is None, f"{kind}/{obj} left behind"
    assert UNHANDLED not in operator.log()[mark:]


def test_a_helm_failure_and_a_terraform_failure_in_the_middle_of_a_fleet(
        management: Cluster, operator: OperatorProcess) -> None:
    namespace = ns("badfleet")
    fleet: dict[str, dict[str, Any]] = {f"f{i:02d}": {} for i in range(6)}
    # A value the operator lets hubs set, of a type the chart's schema refuses; a machine type no cloud has.
    fleet["f03"] = {"hub": {"domain": "f03.hubs.example.org", "adminUsers": ["alice"],
                            "values": {"cull": {"maxAge": "often"}}}}
    fleet["fdedicated"] = {"placement": placement(machine_type="quantum-9000")}
    apply_fleet(management, namespace, fleet)

    helm_failed = wait_condition(management, "f03", namespace, "HubReady", "False", "HelmFailed", timeout=180)
    assert "maxAge" in helm_failed["message"], helm_failed["message"]
    tf_failed = wait_condition(management, "fdedicated", namespace, "ClusterReady", "False", "TerraformFailed",
                               timeout=180)
    assert "Unknown machine type quantum-9000" in tf_failed["message"], tf_failed["message"]
    for name in fleet:
        if name not in ("f03", "fdedicated"):
            wait_ready(management, name, namespace, timeout=180)
    # The others never had a warning: no Event of theirs says anything failed.
    warnings = [(e["involvedObject"]["name"], e["reason"]) for e in
                management.get("events", namespace=namespace)["items"] if e["type"] == "Warning"]
    assert {n for n, _ in warnings} <= {"f03", "fdedicated"}, warnings
    for name in ("f03", "fdedicated"):
        ready = condition(hub(management, name, namespace), "Ready")
        assert ready is not None and ready["status"] == "False", (name, ready)
        assert ready["reason"] in ("HelmFailed", "TerraformFailed"), (name, ready)
    management.kubectl("-n", namespace, "delete", "communityhubs", "--all", "--timeout=300s")
    assert not owned_leftovers(management, {names.owner(namespace, name) for name in fleet})
