"""The package's layers only go down (docs/architecture.md): no module imports one above it.

``LAYERS`` is the order, written once, bottom first. A unit is a folder of ``operator/communityhub/`` or
a module at its top. A module may import its own unit and any unit of a lower layer; units of one
layer are independent of each other (``delivery`` and ``money`` do not import each other). Every import
counts: at the top of a module, inside a function, or under ``TYPE_CHECKING``.

The negative tests feed the checker sources with an upward import, the one this layout removed among
them (``delivery/emails.py`` importing ``steps.sso``, as ``delivered.py`` did before the move), and a
folder nobody placed: each is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = "communityhub"
ROOT = Path(__file__).resolve().parents[2] / "operator" / PACKAGE

#: Bottom first. Pure decisions (delivery, money, fleet) sit on the contract; the operator's runtime and
#: the adapters to outside tools above them; the steps act through the adapters; the pass and the wiring last.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("api",),
    ("delivery", "money"),
    ("fleet", "migration"),
    ("runtime",),
    ("adapters",),
    ("steps",),
    ("reconcile", "teardown"),
    ("main", "cli"),
    ("__main__",),
)
LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}
#: At most three modules at the top besides __init__ and __main__ (issue 19): the wiring.
TOP_LEVEL_MODULES = {"main", "reconcile", "teardown"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def imported(module: str, source: str, is_package: bool = False) -> Iterator[str]:
    """Every module of the package this source imports (dotted, absolute), relative imports resolved.
    ``from communityhub.x import y`` yields ``communityhub.x.y``: y may be a module or a name in x, and
    both belong to x's unit."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == PACKAGE:
                yield from (f"{target}.{alias.name}" for alias in node.names)


def unit_of(module: str) -> str:
    """The folder or top-level module a dotted module belongs to ('' for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(sources: Mapping[str, tuple[str, bool]]) -> list[str]:
    """Upward or sideways imports, and units with no layer, in ``{module: (source, is_package)}``."""
    found = []
    for module, (source, is_package) in sorted(sources.items()):
        unit = unit_of(module)
        if not unit:
            continue
        if unit not in LAYER_OF:
            found.append(f"{module}: unit {unit!r} has no layer in LAYERS")
            continue
        for target in sorted(set(imported(module, source, is_package))):
            other = unit_of(target)
            if not other or other == unit:
                continue
            if other not in LAYER_OF:
                found.append(f"{module} imports {target}: unit {other!r} has no layer in LAYERS")
            elif LAYER_OF[other] >= LAYER_OF[unit]:
                where = "above" if LAYER_OF[other] > LAYER_OF[unit] else "beside"
                found.append(f"{module} ({unit}) imports {target} ({other}, a layer {where} it)")
    return found


def package_sources(root: Path = ROOT) -> dict[str, tuple[str, bool]]:
    return {module_name(p, root): (p.read_text(), p.name == "__init__.py") for p in sorted(root.rglob("*.py"))}


def test_imports_only_go_down() -> None:
    assert violations(package_sources()) == []


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert units, f"nothing found under {ROOT}"
    assert units <= set(LAYER_OF), f"place these in LAYERS: {sorted(units - set(LAYER_OF))}"


def test_the_top_level_holds_only_the_wiring() -> None:
    modules = {p.stem for p in ROOT.glob("*.py")} - {"__init__", "__main__"}
    assert modules == TOP_LEVEL_MODULES


def test_an_upward_import_is_reported() -> None:
    """The import this layout removed: the DELIVERED email's text (pure) reaching up into a step."""
    sources = {"communityhub.delivery.emails": ("from communityhub.steps import sso\n", False)}
    assert violations(sources) == [
        "communityhub.delivery.emails (delivery) imports communityhub.steps.sso (steps, a layer above it)"]


@pytest.mark.parametrize(("module", "source", "is_package"), [
    # every spelling of an import that reaches up
    ("communityhub.api.models", "import communityhub.runtime.settings\n", False),
    ("communityhub.money.billing", "from communityhub import reconcile\n", False),
    ("communityhub.adapters.kube", "def f():\n    from ..steps.context import HubContext\n", False),
    ("communityhub.fleet", "from .. import main\n", True),
    ("communityhub.delivery.render", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                     "    from communityhub.adapters.helm import Helm\n", False),
    # sideways: units of one layer are independent
    ("communityhub.delivery.names", "from communityhub.money import cost\n", False),
])
def test_each_spelling_of_an_upward_import_is_reported(module: str, source: str, is_package: bool) -> None:
    found = violations({module: (source, is_package)})
    assert len(found) == 1 and module in found[0], found


def test_a_downward_import_and_one_within_a_unit_pass() -> None:
    sources = {"communityhub.steps.hub": ("from communityhub.delivery import render\n"
                                          "from communityhub.steps.context import HubContext\n"
                                          "from . import cluster\n", False)}
    assert violations(sources) == []


def test_a_folder_nobody_placed_is_reported() -> None:
    found = violations({"communityhub.billing2.x": ("", False)})
    assert found == ["communityhub.billing2.x: unit 'billing2' has no layer in LAYERS"]
