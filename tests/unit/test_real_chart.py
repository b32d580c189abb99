"""The values the operator renders, against the real JupyterHub chart (4.4.0), with no cluster.

The schema test reads ``values.schema.json`` straight from the chart archive. The template test runs
``helm template`` of the real chart and checks that the objects it renders carry what the spec asked for.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.adapters.helm import values_yaml
from communityhub.delivery import render
from localcluster import binaries, charts
from tests.conftest import REPO
from tests.unit.test_render import AUTHS, ENDPOINTS, base_spec


@pytest.fixture(scope="module")
def chart() -> charts.HubChart:
    return charts.jupyterhub_chart()


def chart_file(chart: charts.HubChart, member: str) -> bytes:
    with tarfile.open(chart.archive) as archive:
        handle = archive.extractfile(f"jupyterhub/{member}")
        assert handle is not None
        return handle.read()


def specs() -> Iterator[tuple[str, Any]]:
    for provider, auth in AUTHS.items():
        for tier in ("general", "premier", "essential"):
            for archetype in ("education", "research"):
                community = {**base_spec().community.model_dump(by_alias=True), "membership": tier,
                             "archetype": archetype}
                yield f"{provider}-{tier}-{archetype}", base_spec(auth=auth, community=community)
    dedicated = {"type": "dedicated", "dedicated": {"cloud": "local", "region": "local"}}
    yield "dedicated", base_spec(placement=dedicated)


def example_classes() -> dict[str, dict[str, Any]]:
    """The values of every HubClass under examples/ (a provider's layers must fit the chart too)."""
    found = {}
    for path in sorted((REPO / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "HubClass":
                found[f"{path.name}:{doc['metadata']['name']}"] = (doc.get("spec") or {}).get("values") or {}
    return found


def test_every_rendered_values_fit_the_real_charts_schema(chart: charts.HubChart) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency")
    schema = json.loads(chart_file(chart, "values.schema.json"))
    defaults = yaml.safe_load(chart_file(chart, "values.yaml"))
    classes = {"no class": None, **example_classes()}
    assert len(classes) > 1, "no HubClass under examples/"
    for label, spec in specs():
        for class_label, class_values in classes.items():
            values = render.deep_merge(defaults, render.values("hubs", "lab", spec, ENDPOINTS, "ops",
                                                               class_values=class_values))
            errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)]
            assert errors == [], f"{label}, {class_label}"


def test_the_schema_check_catches_a_key_the_chart_does_not_know(chart: charts.HubChart) -> None:
    """The schema test above can fail: a misspelt key is refused by the real schema."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency")
    schema = json.loads(chart_file(chart, "values.schema.json"))
    values = render.values("hubs", "lab", base_spec(), ENDPOINTS, "ops")
    values["cull"]["timout"] = 10
    assert list(jsonschema.Draft7Validator(schema).iter_errors(values))


def test_production_values() -> None:
    education = base_spec(community={**base_spec().community.model_dump(by_alias=True), "archetype": "education"})
    research = base_spec()
    values = render.values("hubs", "lab", research, None, "ops")
    assert values["hub"]["db"]["type"] == "sqlite-pvc"
    assert values["scheduling"]["corePods"]["nodeAffinity"]["matchNodePurpose"] == "require"
    assert values["scheduling"]["userPods"]["nodeAffinity"]["matchNodePurpose"] == "require"
    assert values["cull"]["enabled"] is True
    assert render.values("hubs", "lab", education, None, "ops")["cull"]["timeout"] < values["cull"]["timeout"]
    assert values["prePuller"]["hook"]["enabled"] is False
    assert values["prePuller"]["continuous"]["enabled"] is False  # shared: not a pod per hub on every node
    dedicated = base_spec(placement={"type": "dedicated", "dedicated": {"cloud": "local", "region": "local"}})
    assert render.values("hubs", "lab", dedicated, None, "ops")["prePuller"]["continuous"]["enabled"] is True
    assert values["hub"]["resources"]["requests"] == {"cpu": "0.2", "memory": "1Gi"}
    assert values["proxy"]["chp"]["resources"]["requests"]["cpu"]
    assert values["singleuser"]["storage"] == {"type": "dynamic", "capacity": "10Gi"}
    (rule,) = values["hub"]["networkPolicy"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}]
    assert rule["ports"] == [{"port": render.HUB_API_PORT, "protocol": "TCP"}]


def helm_template(chart: charts.HubChart, values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    helm = binaries.find("helm")
    if helm is None:
        pytest.skip("the helm binary is not built yet: `make binaries` builds it (`make test` does first)")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(values_yaml(values))
    out = subprocess.run([str(helm), "template", "lab", str(chart.archive), "--namespace", "hub-x",
                          "--kube-version", "1.36.3", "--values", str(values_file)],
                         capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    return next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


EMOJI = "🌊 Ocean 👩‍🔬 𠀋"


def test_emoji_and_astral_characters_reach_the_hub_as_written(chart: charts.HubChart, tmp_path: Path) -> None:
    """Characters outside the Basic Multilingual Plane used to become surrogate escapes helm refused."""
    env = {"image": "quay.io/x/y:1", "profiles": [{"name": "ocean", "displayName": EMOJI, "cpu": 1, "memory": "2Gi"}]}
    values = render.values("hubs", "lab", base_spec(environment=env), None, "ops")
    assert values["singleuser"]["profileList"][0]["display_name"] == EMOJI
    secret = find(helm_template(chart, values, tmp_path), "Secret", "hub")
    assert secret is not None
    released = yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))
    assert released["singleuser"]["profileList"][0]["display_name"] == EMOJI


def test_the_real_chart_renders_what_the_spec_asked_for(chart: charts.HubChart, tmp_path: Path) -> None:
    spec = base_spec(hub={"domain": "lab.example.org", "adminUsers": ["alice"], "resources": {"cpu": 0.5,
                                                                                             "memory": "2Gi"}})
    objects = helm_template(chart, render.values("hubs", "lab", spec, None, "ops"), tmp_path)

    hub = find(objects, "Deployment", "hub")
    assert hub is not None
    (container,) = [c for c in hub["spec"]["template"]["spec"]["containers"] if c["name"] == "hub"]
    assert container["resources"] == {"requests": {"cpu": "0.5", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    affinity = hub["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["key"] == "hub.jupyter.org/node-purpose"
    assert term["matchExpressions"][0]["values"] == ["core"]
    env = {e["name"]: e for e in container["env"]}
    assert env["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": render.OAUTH_SECRET_NAME,
                                                                       "key": "client_secret"}

    # What the hub reads at start (jupyterhub_config.py loads the chart's values from the `hub` Secret).
    secret = find(objects, "Secret", "hub")
    assert secret is not None
    released = yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))
    assert released["hub"]["config"]["JupyterHub"]["authenticator_class"] == "github"
    assert released["hub"]["config"]["GitHubOAuthenticator"]["allowed_organizations"] == ["climate-lab:researchers"]
    assert released["singleuser"]["image"] == {"name": "quay.io/example/climate-notebook", "tag": "2026.11.01",
                                              "pullPolicy": None, "pullSecrets": []}
    small, large = released["singleuser"]["profileList"]
    assert small["kubespawner_override"]["cpu_limit"] == 1 and large["kubespawner_override"]["mem_limit"] == "16G"
    assert released["cull"]["timeout"] == render.CULL_TIMEOUT_SECONDS["research"]

    claim = find(objects, "PersistentVolumeClaim", "hub-db-dir")
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == render.HUB_DB_STORAGE
    policy = find(objects, "NetworkPolicy", "hub")
    assert policy is not None
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}} in [
        peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]
    assert find(objects, "Ingress", "jupyterhub")["spec"]["rules"][0]["host"] == "lab.example.org"  # type: ignore[index]
    # No pre-puller hook (it would hold every upgrade), and no continuous puller on a shared cluster.
    assert find(objects, "DaemonSet", "hook-image-puller") is None
    assert find(objects, "DaemonSet", "continuous-image-puller") is None
    assert find(objects, "Deployment", "proxy") is not None
    # Nothing cluster-scoped: no user-scheduler and its ClusterRole(Binding), no PriorityClass.
    cluster_scoped = [o for o in objects if o["kind"].startswith("Cluster") or o["kind"] == "PriorityClass"]
    assert cluster_scoped == []
    assert find(objects, "Deployment", "user-scheduler") is None


def test_the_typed_environment_fields_fit_the_real_charts_schema(chart: charts.HubChart) -> None:
    """Branding, named servers, burst resources, catalog pools and image choices (issue 20), with and without
    profiles, as the real chart's schema sees them."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency")
    from tests.unit.test_environment_fields import CATALOG, with_profiles
    schema = json.loads(chart_file(chart, "values.schema.json"))
    defaults = yaml.safe_load(chart_file(chart, "values.yaml"))
    typed = with_profiles({"name": "gpu", "cpu": 2, "cpuLimit": 4, "memory": "8Gi", "memoryLimit": "16Gi", "gpu": 1,
                           "nodePool": "t4", "imageChoices": ["pangeo", "rocker"], "unlistedImage": True,
                           "defaultUrl": "/rstudio"})
    hub = {**typed.hub.model_dump(by_alias=True), "branding": {"orgName": "Org", "announcement": "Hello"}}
    env = {**typed.environment.model_dump(by_alias=True, exclude_none=True), "namedServers": {"limitPerUser": 2}}
    no_profiles = {**env, "profiles": [], "resources": {"cpu": 0.5, "cpuLimit": 2, "memory": "1G", "memoryLimit": "2G"}}
    from tests.unit.test_environment_fields import GROUPED, SHARED, storage_spec
    for spec in (base_spec(hub=hub, environment=env), base_spec(hub=hub, environment=no_profiles), SHARED,
                 storage_spec(type="none", tmpSize="1Gi"), GROUPED):
        values = render.deep_merge(defaults, render.values("hubs", "lab", spec, ENDPOINTS, "ops", catalog=CATALOG))
        assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)] == []


def test_a_class_on_a_gateway_gives_each_hub_a_route_for_its_domain_and_no_ingress(
        chart: charts.HubChart, tmp_path: Path) -> None:
    """ingress-nginx is past its maintenance: a class that names a Gateway gets its hubs an HTTPRoute (the chart's
    own, 4.3+) for their domain to their proxy, whatever ingress values the class carries."""
    from communityhub.api.models import HubClassSpec

    hub_class = HubClassSpec.model_validate({
        "sharedStorage": {"storageClassName": "rwx"},
        "gatewayRoute": {"name": "hubs", "namespace": "gateways", "sectionName": "https"},
        "values": {"ingress": {"annotations": {"nginx.org/client-max-body-size": "256m"}}}})
    spec = base_spec()
    objects = helm_template(chart, render.values("hubs", "lab", spec, class_values=hub_class.values,
                                                 catalog=hub_class), tmp_path)
    assert [o for o in objects if o["kind"] == "Ingress"] == []
    (route,) = [o for o in objects if o["kind"] == "HTTPRoute"]
    assert route["spec"]["hostnames"] == [spec.hub.domain]
    assert route["spec"]["parentRefs"] == [{"kind": "Gateway", "name": "hubs", "namespace": "gateways",
                                            "sectionName": "https"}]
    (backend,) = route["spec"]["rules"][0]["backendRefs"]
    assert find(objects, "Service", backend["name"]) is not None and backend["port"] == 80
    plain = helm_template(chart, render.values("hubs", "lab", spec), tmp_path)
    assert [o["kind"] for o in plain if o["kind"] in ("Ingress", "HTTPRoute")] == ["Ingress"]
    # A hub moving onto the Gateway keeps its Ingress beside the route until a Gateway accepts the route.
    moving = helm_template(chart, render.values("hubs", "lab", spec, class_values=hub_class.values,
                                                catalog=hub_class, keep_ingress=True), tmp_path)
    assert sorted(o["kind"] for o in moving if o["kind"] in ("Ingress", "HTTPRoute")) == ["HTTPRoute", "Ingress"]
