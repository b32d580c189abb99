"""Run last (by its name): no secret value the run used shows up where the operator writes for people.

The values: the OAuth client secrets, a workshop's shared passwords, the SMTP
password, a builder's registry password and the customer cloud
token the tests hand the operator, and every usage and serving-check token the operator generated that is
still in a hub namespace. The places: every log of an operator process this session ran, every Event on both
control planes, and the status and annotations of every CommunityHub and of every namespace.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from communityhub.delivery import serving
from communityhub.delivery.render import USAGE_TOKEN_KEY, USAGE_TOKEN_SECRET_NAME
from tests.conftest import CLOUD_STAND_IN_CREDENTIALS, PROVIDER_TOKEN, OperatorProcess
from tests.integration.test_binder import REGISTRY_PASSWORD
from tests.integration.test_dedicated import CUSTOMER_TOKEN
from tests.integration.test_identities import SHARED_ADMIN_PASSWORD, SHARED_USER_PASSWORD
from tests.support import smtp
from tests.support.hubs import SECRET_VALUE
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


def generated_tokens(cluster: Cluster) -> set[str]:
    """The usage and serving-check tokens the operator made for every hub still there."""
    found: set[str] = set()
    for name, key in ((USAGE_TOKEN_SECRET_NAME, USAGE_TOKEN_KEY), (serving.TOKEN_SECRET_NAME, serving.TOKEN_KEY)):
        out = json.loads(cluster.kubectl("get", "secrets", "-A", "--field-selector", f"metadata.name={name}",
                                         "-o", "json").stdout)
        found |= {base64.b64decode(s["data"][key]).decode() for s in out["items"] if s.get("data", {}).get(key)}
    return found


def places(cluster: Cluster) -> dict[str, str]:
    events = cluster.kubectl("get", "events", "-A", "-o", "json").stdout
    hubs = json.loads(cluster.kubectl("get", "communityhubs", "-A", "-o", "json", check=False).stdout or "{}")
    namespaces = json.loads(cluster.kubectl("get", "namespaces", "-o", "json").stdout)
    return {
        f"{cluster.name} events": events,
        f"{cluster.name} hub status and annotations": json.dumps(
            [[h.get("status"), h["metadata"].get("annotations")] for h in hubs.get("items", [])]),
        f"{cluster.name} namespace annotations": json.dumps(
            [n["metadata"].get("annotations") for n in namespaces["items"]]),
    }


def test_no_secret_value_in_logs_events_status_or_annotations(
        management: Cluster, workload: Cluster, operator: OperatorProcess,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    secrets = {SECRET_VALUE, smtp.PASSWORD, CUSTOMER_TOKEN, PROVIDER_TOKEN, f"{REGISTRY_PASSWORD}-a",
               SHARED_USER_PASSWORD, SHARED_ADMIN_PASSWORD} | \
        generated_tokens(management) | generated_tokens(workload)
    secrets |= {value for keys in CLOUD_STAND_IN_CREDENTIALS.values() for value in keys.values()
                if 'stand-in' in value}
    secrets = {s for s in secrets if len(s) >= 8}
    # Every operator process's log (the session's, a standby's); not the test JupyterHub's own log.
    logs = {p.as_posix(): p.read_text(errors="replace") for p in Path(tmp_path_factory.getbasetemp()).rglob("*.log")
            if p.name != "jupyterhub.log"}
    assert operator.log_path.as_posix() in logs and logs[operator.log_path.as_posix()], "the operator's log is read"
    where = {**logs, **places(management), **places(workload)}
    leaks = [(secret[:4] + "…", place) for secret in secrets for place, text in where.items() if secret in text]
    assert not leaks, f"secret values (first characters shown) found in: {leaks}"
    print(f"{len(secrets)} secret values, none in {len(where)} places ({sum(map(len, where.values()))} characters)")
