from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from communityhub.api.models import CommunityHub, CommunityHubSpec, HubClass
from tests.conftest import REPO

#: What hubctl import wrote for the real fleet: its real domains and FILL-ME placeholders (tests/unit/test_import.py
#: checks those manifests; the real API server admits them in tests/integration/test_operator.py).
IMPORTED = REPO / "examples" / "fleet" / "imported"


def example_docs(kind: str) -> list[dict]:
    docs = []
    for path in sorted(p for p in (REPO / "examples").rglob("*.yaml") if IMPORTED not in p.parents):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == kind]
    return docs


def example_hubs() -> list[dict]:
    return example_docs("CommunityHub")


@pytest.mark.parametrize("doc", example_docs("HubClass"), ids=lambda d: d["metadata"]["name"])
def test_example_classes_parse(doc: dict) -> None:
    hub_class = HubClass.model_validate(doc)
    assert hub_class.spec.description


@pytest.mark.parametrize("doc", example_hubs(), ids=lambda d: d["metadata"]["name"])
def test_examples_parse(doc: dict) -> None:
    hub = CommunityHub.model_validate(doc)
    assert hub.spec.hub.domain.endswith("example.org")


def test_aliases_are_camel_case_with_usd_spelled_out() -> None:
    spec = CommunityHubSpec.model_validate(example_hubs()[0]["spec"])
    dumped = spec.model_dump(by_alias=True)
    assert "contactEmail" in dumped["community"]
    assert "setupFeeUSD" in dumped["billing"] and "monthlyFeeUSD" in dumped["billing"]


def test_unknown_fields_are_rejected() -> None:
    spec = dict(example_hubs()[0]["spec"])
    spec["community"] = {**spec["community"], "favouriteColour": "blue"}
    with pytest.raises(ValidationError, match="favouriteColour"):
        CommunityHubSpec.model_validate(spec)


@pytest.mark.parametrize("image", ["quay.io/example/x:1.0", "jupyter/scipy-notebook", "localhost:5000/a/b:tag",
                                   "ghcr.io/o/i@sha256:" + "a" * 64])
def test_image_references_accepted(image: str) -> None:
    spec = dict(example_hubs()[0]["spec"])
    spec["environment"] = {"image": image}
    assert CommunityHubSpec.model_validate(spec).environment.image == image


@pytest.mark.parametrize("image", ["Not An Image", "quay.io/UPPER/x:1", "x:", "a//b"])
def test_bad_image_references_rejected(image: str) -> None:
    spec = dict(example_hubs()[0]["spec"])
    spec["environment"] = {"image": image}
    with pytest.raises(ValidationError):
        CommunityHubSpec.model_validate(spec)
