"""Which HubClass a hub is built on (pure), and what the class decides of its values and policy.

A CommunityHub names its class in ``spec.hubClassName``; without one it gets the class annotated
``hubs.2i2c.org/is-default-class=true`` (the newest, when several are: StorageClass's rule), and without a
default it gets none: the operator's own defaults, as before classes existed.

The operator keeps every class in a Kopf index as :func:`index_entry`; a class is parsed once per
generation (:func:`parsed`), not once per hub pass.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

from communityhub.api.models import DEFAULT_CLASS_ANNOTATION, ClassChart, CommunityHubSpec, HubClassSpec


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The class a hub gets: ``name`` None when it gets none; ``spec`` None when the named class is missing."""

    name: str | None
    generation: int | None = None
    spec: HubClassSpec | None = None

    @property
    def missing(self) -> bool:
        return self.name is not None and self.spec is None

    def to_status(self) -> dict[str, Any] | None:
        """status.hubClass (None: no class, so the field leaves the status)."""
        if self.name is None or self.spec is None:
            return None
        return {"name": self.name, "generation": self.generation}


#: A hub with no class: the operator's own defaults.
NO_CLASS = Resolved(None)


def index_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a HubClass: its spec (as JSON, hashable for the parse cache), generation,
    whether it is a default, and its age (the newest default wins)."""
    meta = body.get("metadata") or {}
    return {"spec": json.dumps(body.get("spec") or {}, sort_keys=True), "generation": meta.get("generation"),
            "default": (meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true",
            "created": str(meta.get("creationTimestamp") or "")}


@functools.lru_cache(maxsize=256)
def parsed(spec_json: str) -> HubClassSpec:
    return HubClassSpec.model_validate(json.loads(spec_json))


def default_class(classes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The default class's name: of those annotated default, the newest (then the first by name)."""
    defaults = sorted(name for name, entry in classes.items() if entry.get("default"))
    # max keeps the first of equals: among classes created at the same second, the first name.
    return max(defaults, key=lambda name: classes[name].get("created") or "", default=None)


def resolve(spec: CommunityHubSpec, classes: Mapping[str, Mapping[str, Any]]) -> Resolved:
    name = spec.hub_class_name or default_class(classes)
    if name is None:
        return NO_CLASS
    entry = classes.get(name)
    if entry is None:
        return Resolved(name)
    return Resolved(name, entry.get("generation"), parsed(entry["spec"]))


def hubs_to_look_at(name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                   hubs: Mapping[Any, str | None]) -> list[Any]:
    """The hubs a HubClass event concerns, to be looked at now rather than at their next resync: those that name
    the class, and those that name none where it is or was a default (which class they get may have moved).
    ``before``/``after`` are its index entries (None: absent); ``hubs`` maps each hub to its spec.hubClassName.
    Empty when only the class's status or labels moved: nothing its hubs read changed."""
    def read(entry: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
        return None if entry is None else (entry.get("spec"), entry.get("default"), entry.get("created"))

    if read(before) == read(after):
        return []
    was_default = bool(before and before.get("default")) or bool(after and after.get("default"))
    return [key for key, named in hubs.items() if named == name or (not named and was_default)]


def not_found_message(name: str, spec: CommunityHubSpec) -> str:
    how = "spec.hubClassName" if spec.hub_class_name else "the default class"
    return (f"HubClass {name} ({how}) does not exist: `kubectl get hubclasses` lists those that do; the hub is "
            f"deployed once it exists")


def chart_ref(own: ClassChart | None, name: str, version: str, repository: str) -> tuple[str, str, str | None]:
    """A component's chart (name, version, repository or None for an archive or an oci:// name): each field the
    class's where it sets it (a home server's, a builder's ``chart``), else the operator's setting."""
    return ((own.name if own and own.name else name), (own.version if own and own.version else version),
            (own.repository if own and own.repository else repository) or None)
