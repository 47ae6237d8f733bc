"""The library's layers: data flows one way (client → config → platform → run → report →
history and outputs → the behave glue → commands and the service), and no module imports from a
layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stagecheck"
# Lower number = lower layer. A module may import from its own layer and the ones below.
LAYERS = {
    "vocabulary": 0, "errors": 0, "wording": 0,  # the words every layer decides on
    "lifetime": 0,                                 # children that die with their parent
    "client": 1,                                   # any HTTP/WebSocket service
    "config": 2,                                   # settings and the target
    "platform": 3, "load": 3,                      # the platform's vocabulary; the load tier
    "run": 4,                                      # the state of one run
    "report": 5,                                   # the result model, built and rendered
    "history": 6, "outputs": 6,                    # across runs; what a run leaves behind
    "catalog": 6,                                  # the specification for product review
    "gate": 7, "steps": 7,                         # everything that knows behave
    "cli": 8, "service": 8, "__main__": 8, "__init__": 8,  # commands and the service
}
ENTRY_POINT = 8  # a package's __main__.py (`python -m stagecheck.report`) is a command


def layer_of(parts: tuple[str, ...]) -> int:
    if parts[-1] == "__main__.py":
        return ENTRY_POINT
    return LAYERS[parts[0].removesuffix(".py")]


def stagecheck_imports(path: Path, source: str | None = None) -> set[tuple[str, ...]]:
    """The stagecheck modules a file imports (its text, or `source` as if it were its text),
    as paths inside the package."""
    here = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
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
    assert ("run", "world") in stagecheck_imports(PACKAGE / "gate" / "conclude.py")
    assert ("platform", "refusals") in stagecheck_imports(PACKAGE / "steps.py")
    assert ("history", "schema") in stagecheck_imports(PACKAGE / "history" / "store.py")
    for path in MODULES:
        layer_of(path.relative_to(PACKAGE).parts)  # raises KeyError for an unplaced module


def test_steps_use_only_the_public_surface() -> None:
    for path in (PACKAGE.parent / "features" / "steps").glob("*.py"):
        imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stagecheck")}
        assert imported <= {"stagecheck.steps"}, f"{path.name} imports {sorted(imported)}"


def test_an_upward_import_is_caught() -> None:
    # A planted upward import (the client reaching for the report) is seen for what it is; the
    # module is only imagined in client/, never written into the checkout.
    planted = PACKAGE / "client" / "_planted_upward.py"
    parts = planted.relative_to(PACKAGE).parts
    imported = stagecheck_imports(planted, "from ..report import model\n")
    assert [p for p in imported if layer_of(p) > layer_of(parts)] == [("report",)]


def test_the_steps_surface_is_pinned() -> None:
    # As httpx pins its exported members: a name added to or dropped from the steps' surface is
    # a decision, made here.
    import stagecheck.steps

    assert sorted(stagecheck.steps.__all__) == sorted(STEPS_SURFACE)
    assert all(hasattr(stagecheck.steps, name) for name in stagecheck.steps.__all__)


STEPS_SURFACE = [
    "MAIN_USER_EMAIL", "OTHER_USER_EMAIL", "Classification", "LoadPlan",
    "LoadRunFailed", "NeedsBypassKey", "NoAnswer", "SessionClosed", "agent_request",
    "ask_agent_api", "bearer", "canned_answer_problem", "contract", "conversation_messages",
    "conversations_serve", "degrade", "describe", "duration", "elapsed_s", "environment_kept", "expect",
    "expect_json", "expired_token", "forged_token", "fresh_token", "json_body", "json_excerpt",
    "key_accepted_by_api", "key_accepted_by_sessions", "known_answer", "list_conversations",
    "message_contents", "numbered_user_email", "percentile_95", "plural", "send_user_message",
    "sessions_serve", "sign_in_url", "sign_out", "signed_in_user",
    "signed_in_users", "start_conversation", "wait_for_refusal",
]


STANDIN = PACKAGE.parent / "standin"


def too_long(paths: list[Path]) -> list[str]:
    """Modules over 400 lines and functions over 60, named."""
    long = [f"{path.name}: {len(path.read_text().splitlines())} lines"
            for path in paths if len(path.read_text().splitlines()) > 400]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long.append(f"{path.name}: {node.name}() {length} lines")
    return long


def test_no_module_is_over_400_lines_and_no_function_over_60() -> None:
    # The library and the stand-in alike.
    assert too_long([*MODULES, *sorted(STANDIN.rglob("*.py"))]) == []


def test_the_size_check_sees_a_long_module_and_a_long_function(tmp_path: Path) -> None:
    module = tmp_path / "long.py"
    module.write_text("x = 1\n" * 401)
    function = tmp_path / "function.py"
    function.write_text("def f() -> None:\n" + "    pass\n" * 60)
    fits = tmp_path / "fits.py"
    fits.write_text("x = 1\n" * 340 + "def f() -> None:\n" + "    pass\n" * 59)
    assert too_long([module, function, fits]) == ["long.py: 401 lines", "function.py: f() 61 lines"]
