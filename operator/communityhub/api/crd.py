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


def _condition_column(name: str, field: str, description: str) -> dict[str, str]:
    return {"name": name, "type": "string", "description": description,
            "jsonPath": f'.status.conditions[?(@.type=="Ready")].{field}'}


def crd() -> dict[str, Any]:
    spec_schema = openapi_schema(models.CommunityHubSpec)
    status_schema = openapi_schema(models.CommunityHubStatus)
    spec_schema["description"] = "Desired state of the community's hub."
    status_schema["description"] = "Observed state, written by the operator."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{models.PLURAL}.{models.GROUP}"},
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {"kind": models.KIND, "plural": models.PLURAL, "singular": models.SINGULAR,
                      "listKind": f"{models.KIND}List", "shortNames": models.SHORT_NAMES,
                      "categories": ["hubs"]},
            "versions": [{
                "name": models.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Archetype", "type": "string", "jsonPath": ".spec.community.archetype",
                     "description": "education, research or partnership"},
                    {"name": "Placement", "type": "string", "jsonPath": ".spec.placement.type",
                     "description": "shared or dedicated"},
                    _condition_column("Ready", "status", "Whether the hub is delivered and serving"),
                    _condition_column("Reason", "reason", "Why the hub is (not) ready"),
                    {"name": "Chart", "type": "string", "jsonPath": ".status.release.chart",
                     "description": "JupyterHub chart name and version deployed"},
                    {"name": "URL", "type": "string", "jsonPath": ".status.url", "description": "Hub URL"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {"openAPIV3Schema": {
                    "description": models.CommunityHub.__doc__,
                    "type": "object",
                    "required": ["spec"],
                    "x-kubernetes-validations": models.NAME_RULES,
                    "properties": {
                        "apiVersion": {"type": "string", "description": "APIVersion of this object."},
                        "kind": {"type": "string", "description": "Kind of this object."},
                        "metadata": {"type": "object"},
                        "spec": spec_schema,
                        "status": status_schema,
                    },
                }},
            }],
        },
    }


def render() -> str:
    header = "# Generated from operator/communityhub/api/models.py by `make crds`. Do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=120)


if __name__ == "__main__":
    sys.stdout.write(render())
