"""The CRD is generated from the pydantic models, and what is committed is what they generate."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from communityhub.api import crd
from tests.conftest import CRD, OPERATOR_CHART


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, schema)]
    for name, prop in (schema.get("properties") or {}).items():
        out += _walk(prop, f"{path}.{name}")
    if "items" in schema:
        out += _walk(schema["items"], f"{path}[]")
    return out


def test_committed_crds_match_the_models() -> None:
    assert CRD.read_text() == crd.render(), "crds/communityhub.yaml is stale: run `make crds`"
    for name in crd.FILES:
        assert (CRD.parent / name).read_text() == crd.render(name), f"crds/{name} is stale: run `make crds`"


def test_operator_chart_ships_the_same_crds() -> None:
    for name in crd.FILES:
        assert (OPERATOR_CHART / "crds" / name).read_text() == crd.render(name), "run `make crds`"


@pytest.mark.parametrize("name", sorted(crd.FILES))
def test_schema_is_structural_and_documented(name: str) -> None:
    doc = crd.FILES[name]()
    version = doc["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    status = root["properties"].get("status")  # a HubClass has none (configuration, like a StorageClass)
    for path, node in _walk(root["properties"]["spec"], ".spec") + (_walk(status, ".status") if status else []):
        # The API server refuses patternProperties (a keyed map's key pattern: a CEL rule says it instead).
        for forbidden in ("anyOf", "oneOf", "$ref", "title", "patternProperties", "propertyNames"):
            assert forbidden not in node, f"{path} has {forbidden}"
        # A map's values have a schema; else unknown fields are preserved or refused, never "additional: false".
        assert node.get("additionalProperties", {}) is not False and not (
            "additionalProperties" in node and "properties" in node), f"{path}: additionalProperties with properties"
        assert node.get("type") or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        if path.startswith(".spec") and not (path.endswith("[]") and node.get("type") != "object"):
            assert node.get("description"), f"{path} has no description (kubectl explain would be empty)"


def test_crd_names_columns_and_subresource() -> None:
    spec = crd.crd()["spec"]
    assert spec["group"] == "hubs.2i2c.org" and spec["names"]["shortNames"] == ["chub"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Archetype", "Placement", "Ready", "Reason", "Serving", "Chart", "URL", "Age"]
    serving = next(c for c in version["additionalPrinterColumns"] if c["name"] == "Serving")
    assert serving["jsonPath"] == '.status.conditions[?(@.type=="ServingUsers")].status'


def test_cross_field_rules_are_cel_on_the_owning_object() -> None:
    spec = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    placement_rules = [r["rule"] for r in spec["properties"]["placement"]["x-kubernetes-validations"]]
    assert "self.type == oldSelf.type" in placement_rules
    dedicated_rules = spec["properties"]["placement"]["properties"]["dedicated"]["x-kubernetes-validations"]
    assert any("oldSelf.cloud" in r["rule"] for r in dedicated_rules)
    assert any("partnership" in r["rule"] for r in spec["x-kubernetes-validations"])
    for rule in placement_rules + [r["rule"] for r in dedicated_rules]:
        assert rule.strip()


def test_numeric_exclusive_bounds_become_booleans() -> None:
    text = yaml.safe_dump(crd.crd())
    assert "exclusiveMinimum: true" in text
    assert "exclusiveMinimum: 0" not in text


def test_hub_class_is_cluster_scoped_configuration() -> None:
    spec = crd.hub_class_crd()["spec"]
    assert spec["scope"] == "Cluster" and spec["names"]["kind"] == "HubClass"
    version = spec["versions"][0]
    assert "subresources" not in version and "status" not in version["schema"]["openAPIV3Schema"]["properties"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Default"] == ".metadata.annotations.hubs\\.2i2c\\.org/is-default-class"
    values = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["values"]
    assert values.get("x-kubernetes-preserve-unknown-fields") is True  # the provider's values: any shape
