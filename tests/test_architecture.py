"""The library's layers: data flows one way (run → report → history → the behave glue), and no
module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stagecheck"
# Lower number = lower layer. A module may import from its own layer and the ones below.
LAYERS = {"vocabulary": 0, "errors": 0, "contract": 0, "run": 1, "report": 2, "history": 3,
          "conclude": 4, "fixtures": 4, "runner": 4, "shards": 4, "steps": 4, "__main__": 4, "__init__": 4}


def layer_of(parts: tuple[str, ...]) -> int:
    return LAYERS[parts[0].removesuffix(".py")]


def stagecheck_imports(path: Path) -> set[tuple[str, ...]]:
    """The stagecheck modules a file imports, as paths inside the package."""
    here = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1] if node.level > 1 else here
                module = (*base, *(node.module or "").split(".")) if node.module else base
                names = [(*module, alias.name) for alias in node.names] if not node.module else [module]
            elif (node.module or "").startswith("stagecheck."):
                names = [tuple(node.module.split(".")[1:])]
            else:
                continue
            found.update(tuple(p for p in name if p) for name in names)
        elif isinstance(node, ast.Import):
            found.update(tuple(alias.name.split(".")[1:]) for alias in node.names
                         if alias.name.startswith("stagecheck."))
    return {parts for parts in found if parts}


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_it(path: Path) -> None:
    own = layer_of(path.relative_to(PACKAGE).parts)
    above = sorted(".".join(parts) for parts in stagecheck_imports(path) if layer_of(parts) > own)
    assert above == [], f"{path.relative_to(PACKAGE)} imports from a higher layer: {above}"


def test_the_check_sees_imports_and_knows_every_module() -> None:
    # The checker itself: it finds the imports of a module we know, in every form used.
    assert ("report", "model") in stagecheck_imports(PACKAGE / "history" / "store.py")
    assert ("run", "world") in stagecheck_imports(PACKAGE / "conclude.py")
    assert ("contract",) in stagecheck_imports(PACKAGE / "steps.py")
    for path in MODULES:
        layer_of(path.relative_to(PACKAGE).parts)  # raises KeyError for an unplaced module


def test_steps_use_only_the_public_surface() -> None:
    for path in (PACKAGE.parent / "features" / "steps").glob("*.py"):
        imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stagecheck")}
        assert imported <= {"stagecheck.steps"}, f"{path.name} imports {sorted(imported)}"
