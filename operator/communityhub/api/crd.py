"""Generate the CommunityHub CRD from the pydantic models (``python -m communityhub.api.crd``).

Pydantic emits JSON Schema 2020-12; Kubernetes wants a structural OpenAPI v3 subset. This module
inlines ``$ref``s, turns ``Optional[X]`` into an optional X, turns numeric ``exclusiveMinimum``
into the boolean form, replaces free-form objects with ``x-kubernetes-preserve-unknown-fields``
and drops what Kubernetes does not accept (titles, ``additionalProperties: false``).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from communityhub.api import models

_DROP = {"title", "$defs"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"unsupported union in schema: {node['anyOf']}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _resolve({**branches[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _resolve(value, defs)  # a map with typed values (labels, say)
            continue
        if key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
            continue
        if key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
            continue
        if key == "properties":
            out[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
            continue
        out[key] = _resolve(value, defs)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("type", "object")
    return out


def openapi_schema(model: type[models.ApiModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return dict(_resolve(raw, raw.get("$defs", {})))


def _condition_column(name: str, field: str, description: str, condition: str = "Ready") -> dict[str, str]:
    return {"name": name, "type": "string", "description": description,
            "jsonPath": f'.status.conditions[?(@.type=="{condition}")].{field}'}


def _definition(kind: str, plural: str, singular: str, short_names: list[str], scope: str,
                spec: type[models.ApiModel], status: type[models.ApiModel] | None, root: type[models.ApiModel],
                columns: list[dict[str, str]], root_rules: list[dict[str, str]]) -> dict[str, Any]:
    spec_schema = openapi_schema(spec)
    spec_schema["description"] = " ".join((spec.__doc__ or "").split()) or "Desired state."
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string", "description": "APIVersion of this object."},
        "kind": {"type": "string", "description": "Kind of this object."},
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    if status is not None:
        properties["status"] = {**openapi_schema(status), "description": "Observed state, written by the operator."}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{models.GROUP}"},
        "spec": {
            "group": models.GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": singular, "listKind": f"{kind}List",
                      "shortNames": short_names, "categories": ["hubs"]},
            "versions": [{
                "name": models.VERSION,
                "served": True,
                "storage": True,
                **({"subresources": {"status": {}}} if status is not None else {}),
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "description": root.__doc__,
                    "type": "object",
                    "required": ["spec"],
                    "x-kubernetes-validations": root_rules,
                    "properties": properties,
                }},
            }],
        },
    }


def crd() -> dict[str, Any]:
    """The CommunityHub CRD."""
    doc = _definition(
        models.KIND, models.PLURAL, models.SINGULAR, models.SHORT_NAMES, "Namespaced",
        models.CommunityHubSpec, models.CommunityHubStatus, models.CommunityHub,
        [
            {"name": "Archetype", "type": "string", "jsonPath": ".spec.community.archetype",
             "description": "education, research or partnership"},
            {"name": "Placement", "type": "string", "jsonPath": ".spec.placement.type",
             "description": "shared or dedicated"},
            _condition_column("Ready", "status", "Whether the hub is delivered and serving"),
            _condition_column("Reason", "reason", "Why the hub is (not) ready"),
            _condition_column("Serving", "status", "Whether the serving check started a server that ran code "
                                                   "(empty where the hub is not checked)", "ServingUsers"),
            {"name": "Chart", "type": "string", "jsonPath": ".status.release.chart",
             "description": "JupyterHub chart name and version deployed"},
            {"name": "URL", "type": "string", "jsonPath": ".status.url", "description": "Hub URL"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        models.NAME_RULES)
    doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["description"] = (
        "Desired state of the community's hub.")
    return doc


def rollout_crd() -> dict[str, Any]:
    """The FleetRollout CRD (cluster-scoped: the provider's, not a tenant's)."""
    return _definition(
        models.ROLLOUT_KIND, models.ROLLOUT_PLURAL, models.ROLLOUT_SINGULAR, models.ROLLOUT_SHORT_NAMES, "Cluster",
        models.FleetRolloutSpec, models.FleetRolloutStatus, models.FleetRollout,
        [
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
             "description": "Progressing, Paused, Halted, Complete or Superseded"},
            {"name": "Wave", "type": "string", "jsonPath": ".status.wave", "description": "The wave in progress"},
            {"name": "Done", "type": "string", "jsonPath": ".status.progress",
             "description": "Hubs Ready on the target / hubs in the waves"},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "description": "Paused by a person"},
            _condition_column("Reason", "reason", "Why it is (not) complete"),
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        models.ROLLOUT_NAME_RULES)


def hub_class_crd() -> dict[str, Any]:
    """The HubClass CRD (cluster-scoped, no status: like StorageClass, it is configuration)."""
    doc = _definition(
        models.HUB_CLASS_KIND, models.HUB_CLASS_PLURAL, models.HUB_CLASS_SINGULAR, models.HUB_CLASS_SHORT_NAMES,
        "Cluster", models.HubClassSpec, None, models.HubClass,
        [
            {"name": "Default", "type": "string",
             "jsonPath": ".metadata.annotations.hubs\\.2i2c\\.org/is-default-class",
             "description": "Whether hubs without spec.hubClassName get this class"},
            {"name": "Chart", "type": "string", "jsonPath": ".spec.chart.version",
             "description": "Chart version (the operator's when empty)"},
            {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1,
             "description": "What the class is for"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        [])
    doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"].pop("x-kubernetes-validations")
    return doc


#: File name under crds/ -> its definition.
FILES = {"communityhub.yaml": crd, "fleetrollout.yaml": rollout_crd, "hubclass.yaml": hub_class_crd}


def render(name: str = "communityhub.yaml") -> str:
    # The document marker: `helm show crds` concatenates the chart's CRD files as they are.
    header = "# Generated from operator/communityhub/api/models.py by `make crds`. Do not edit.\n---\n"
    return header + yaml.safe_dump(FILES[name](), sort_keys=False, width=120)


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else "communityhub.yaml"))
