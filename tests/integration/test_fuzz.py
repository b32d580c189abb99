"""Generated CommunityHub manifests applied to the real API server (hypothesis).

Each manifest is a valid hub with one or two of its fields replaced by generated JSON, deleted, or given
an unknown sibling. The API server either refuses it with a message that names a field (the schema and
CEL rules, never a CEL runtime error or an internal error), or accepts it, and then the operator handles
it, writes a status for its generation with a reason, and deletes it, with no handler failing with an
unhandled exception. The long variant (``pytest -m long``) tries 400 manifests.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import OperatorProcess, oauth_secret
from tests.integration.test_crashes import UNHANDLED
from tests.support.hubs import hub_manifest, ns, onboard
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

SECRET = "fuzz-oauth"
#: Values near the edges of what fields accept: quantities, paths, addresses, templates, odd characters.
INTERESTING = ["", " ", "0", "-1", "1e3", "0.5", "1Gi", "999999Ti", "1.5Gi", "10G", "lab", "/lab", "/", "a@b.c",
               "not-an-email", "https://issuer.example.org", "http://", "quay.io/x/y:1", "UPPER/case:tag",
               "{{ 7 * 7 }}", "{% raw %}", "${jndi:ldap://x}", "\u0000", "\t\n", "🌊 👩‍🔬", "true", "null",
               "../../etc/passwd", "x" * 300, "shared", "dedicated", "local", "gcp", "github", "oidc", "cilogon",
               "research", "premier", "n2-standard-8"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(INTERESTING)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
           | st.floats(allow_nan=False, allow_infinity=False, width=32) | TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=6)
NAMES = st.sampled_from(["UPPER", "a.b", "x" * 60, "-x", ""])
#: A refusal names the field it is about (a path under spec or metadata, or the unknown field).
NAMES_A_FIELD = re.compile(r"(spec|metadata)(\.|\[|\b)|unknown field")
#: Refusals that are bugs of the schema, not of the manifest.
SCHEMA_BUGS = ("no such key", "Internal error", "compilation failed", "cost budget", "panic")


def bases(namespace: str) -> list[dict[str, Any]]:
    """A valid hub per provider, all naming the same OAuth client Secret."""
    github = hub_manifest("base", namespace)
    github["spec"]["auth"]["clientSecretRef"] = {"name": SECRET}
    cilogon = copy.deepcopy(github)
    cilogon["spec"]["auth"] = {"provider": "cilogon", "clientSecretRef": {"name": SECRET}, "cilogon": {
        "allowedIdps": [{"entityId": "https://idp.example.edu/idp", "usernameClaim": "email",
                         "allowedDomains": ["example.edu"]}]}}
    oidc = copy.deepcopy(github)
    oidc["spec"]["auth"] = {"provider": "oidc", "clientSecretRef": {"name": SECRET},
                            "oidc": {"issuer": "https://127.0.0.1:9/realms/fuzz", "allowedGroups": ["staff"]}}
    return [github, cilogon, oidc]


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document, containers and leaves."""
    found = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found += paths(value, (*prefix, index))
    return found


def like(draw: st.DrawFn, current: Any) -> Any:
    """A value of the same JSON type as ``current``: what a tenant's typo or odd input looks like."""
    if isinstance(current, bool):
        return draw(st.booleans())
    if isinstance(current, int | float):
        return draw(st.integers(-5, 2000) | st.floats(-1, 1e4, allow_nan=False, width=32))
    if isinstance(current, str):  # often the same text changed a little, else anything
        return draw(st.sampled_from([current + "x", current.upper(), current[:-1], current + "-2"]) | TEXT)
    if isinstance(current, list):
        items = list(current)
        if items and draw(st.booleans()):
            items.pop(draw(st.integers(0, len(items) - 1)))
        else:
            items.append(copy.deepcopy(items[0]) if items else draw(JSON))
        return items
    return draw(JSON)


@st.composite
def manifests(draw: st.DrawFn, templates: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    manifest = copy.deepcopy(draw(st.sampled_from(templates)))
    for _ in range(draw(st.integers(1, 2))):
        candidates = paths(manifest["spec"])
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = manifest["spec"]
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["like"] * 8 + ["delete"] * 2 + ["any", "add"]))
        if action == "like":
            parent[last] = like(draw, parent[last])
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(TEXT) or "x"] = draw(JSON)
        else:
            parent[last] = draw(JSON)
    odd_name = draw(st.none() | st.none() | st.none() | NAMES)  # mostly a fresh valid name
    return manifest, odd_name


@pytest.mark.parametrize("examples", [pytest.param(40, id="40"), pytest.param(400, id="400", marks=pytest.mark.long)])
def test_generated_manifests_are_refused_by_field_or_reconciled(
        management: Cluster, operator: OperatorProcess, examples: int) -> None:
    namespace = ns(f"fuzz{examples}")
    onboard(management, namespace)
    management.apply(oauth_secret(SECRET, namespace))
    mark = len(operator.log())
    counter = itertools.count()
    accepted: list[str] = []
    refused: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(manifests(bases(namespace)))
    def apply(generated: tuple[dict[str, Any], str | None]) -> None:
        manifest, odd_name = generated
        name = odd_name if odd_name is not None else f"fz{next(counter)}"
        manifest["metadata"] = {"name": name, "namespace": namespace}
        result = management.kubectl("create", "-f", "-", input=json.dumps(manifest), check=False)
        if result.returncode == 0:
            accepted.append(name)
            return
        message = result.stderr
        refused.append(message)
        assert NAMES_A_FIELD.search(message), f"refused without naming a field: {message}\n{json.dumps(manifest)}"
        assert not any(bug in message for bug in SCHEMA_BUGS), f"a schema bug, not a bad manifest: {message}"

    apply()
    print(f"{examples} manifests: {len(accepted)} accepted, {len(refused)} refused")
    assert refused, "no generated manifest was refused: the generator makes only valid ones"
    assert accepted, "no generated manifest was accepted: the operator's side was not tried"

    def handled(name: str) -> bool:
        obj = management.get("communityhub", name, namespace)
        ready = condition(obj, "Ready")
        return bool(obj and ready and ready.get("reason")
                    and obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])
    for name in accepted:
        wait_for(lambda name=name: handled(name), timeout=180, what=f"{name} to get a status for its generation")
    assert UNHANDLED not in operator.log()[mark:], "a handler failed with an unhandled exception"

    management.kubectl("-n", namespace, "delete", "communityhubs", "--all", "--timeout=300s")
    assert UNHANDLED not in operator.log()[mark:], "a handler failed with an unhandled exception"
    assert operator.alive()
