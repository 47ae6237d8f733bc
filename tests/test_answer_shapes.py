"""Plausible but wrong answers: a field of the wrong JSON type, or JSON nested thousands of
levels deep, in one answer of an otherwise correct platform. Each is the product's defect, told
in one sentence that names the field and shows the answer: never a traceback, never a lost
report, never a run left `running` in the history. The platform is the stand-in behind a real
loopback proxy (tests/hostile.py ShapedPlatform) that reshapes that one answer."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from standin import start_standin
from tests.behave_run import FAST, run_behave
from tests.hostile import Answer, ShapedPlatform, nested_list, nested_object

UP = "The backend reports itself up within its budget"
DATABASE = "The backend reports its database connected"
DISCOVERY = "A user discovers the available agent servers"
AGENT_RUN = "A user's request streams its progress and completes"
PING = "A live session answers a ping"
CROWD = "5 users hold live sessions at the same time"
IN_ORDER = "A user's messages come back in the order they were sent"
KEPT = "A message sent in a live session is acknowledged and kept in its conversation"
OTHERS = "A user cannot see another user's conversation"
DEPENDENCIES = "The detailed health names each dependency with its status"
READY = "The backend says it is ready for traffic"
CRASHES = ("Traceback", "TypeError", "AttributeError", "KeyError", "RecursionError",
           "IndexError", "UnicodeEncodeError")


def rewrite(kind: str, change: Callable[[dict], dict | str]) -> Callable[[str], str]:
    """A frame rewriter: each frame of this `type` is changed (to a frame, or raw text)."""
    def shape(text: str) -> str:
        frame = json.loads(text)
        if frame.get("type") != kind:
            return text
        changed = change(frame)
        return changed if isinstance(changed, str) else json.dumps(changed)
    return shape


def run_id_as_object(frame: dict) -> dict:
    return {**frame, "run_id": {"id": frame["run_id"]}}


def deep_pong(frame: dict) -> str:
    return '{"type": "pong", "data": ' + nested_list(10_000).decode() + "}"


@dataclass(frozen=True)
class Shape:
    """One wrong answer: what the platform says instead, the tier that reads it, the
    scenarios that must fail, the words their failure must carry, and the exit status."""

    name: str
    tier: str
    failing: frozenset[str]
    words: tuple[str, ...]  # in the failure of each failing scenario: the field, the excerpt
    exit_code: int
    answers: dict[str, Answer] = field(default_factory=dict)
    frames: Callable[[str], str] | None = None


SHAPES = [
    Shape("health status a list", "@p1", frozenset({UP}),
          ("a status of healthy, degraded or ok", '/health answered 200: {"status": ["healthy"], "version"'),
          1, {"GET /health": b'{"status": ["healthy"], "version": "1.0"}'}),
    Shape("health status an object", "@p1", frozenset({UP}),
          ("a status of healthy, degraded or ok", '/health answered 200: {"status": {}}'),
          1, {"GET /health": b'{"status": {}}'}),
    Shape("health nested 100,000 deep", "@p1", frozenset({UP}),
          ("/health (200) is nested deeper than 64 levels", "[[[[[[", "200000 bytes in all"),
          1, {"GET /health": nested_list(100_000)}),
    Shape("detailed health nested 10,000 deep", "@p1", frozenset({DATABASE}),
          ("/api/health (200) is nested deeper than 64 levels", '{"a": {"a": {"a":'),
          1, {"GET /api/health": nested_object(10_000)}),
    Shape("detailed health checks a list", "@p1", frozenset({DATABASE}),
          ("checks.postgresql.connected", '/api/health answered 200: {"status": "healthy", '
                                          '"checks": [{"postgresql"'),
          1, {"GET /api/health": b'{"status": "healthy", "checks": [{"postgresql": '
                                 b'{"status": "healthy", "connected": true}}]}'}),
    Shape("detailed health checks a list, operations", "@p6", frozenset({DEPENDENCIES}),
          ("name its dependencies in an object, checks", '"checks": ["postgresql", "redis"]'),
          3, {"GET /api/health": b'{"status": "healthy", "checks": ["postgresql", "redis"]}'}),
    Shape("readiness nested 100,000 deep", "@p6", frozenset({READY}),
          ("/health/ready (200) is nested deeper than 64 levels",), 3,
          {"GET /health/ready": nested_list(100_000)}),
    Shape("agent servers not objects", "@p1", frozenset({DISCOVERY}),
          ("an object with a string name and status", "3 of the 3 entries",
           '{"data": ["mcp-1", 7, null]'),
          1, {"GET /api/mcp/servers": b'{"data": ["mcp-1", 7, null], "status": "success"}'}),
    Shape("run_id an object", "@p1", frozenset({AGENT_RUN}),
          ("its run id as a string in run_id", '"run_id": {"id": "'), 1,
          frames=rewrite("agent_started", run_id_as_object)),
    Shape("pong nested 10,000 deep", "@p1", frozenset({PING, CROWD}),
          ("sent a frame nested deeper than 64 levels",), 1, frames=rewrite("pong", deep_pong)),
    Shape("thread messages not objects", "@p1", frozenset({IN_ORDER, KEPT}),
          ("an object with its text, a string, in content", '{"messages": ["Hello", 7]}'), 1,
          {r"GET /api/threads/[^/]+/messages": b'{"messages": ["Hello", 7]}'}),
    Shape("new conversation id an object", "@p1", frozenset({IN_ORDER, KEPT, OTHERS}),
          ("an id (a string) in id", '{"id": {"uuid": "t-1"}'), 1,
          {"POST /api/threads": b'{"id": {"uuid": "t-1"}, "title": "Release gate check"}'}),
]


def run_shape(tmp_path: Path, shape: Shape):
    with start_standin() as standin, ShapedPlatform(standin.urls.backend_url,
                                                    standin.urls.ws_url, shape.answers,
                                                    shape.frames) as platform:
        run = run_behave(tmp_path, f"--tags={shape.tier}", "-D", "target=staging",
                         "-D", f"base_url={platform.url}", "-D", f"ws_url={platform.ws_url}",
                         "-D", "allow_destructive=true", *FAST, timeout=180,
                         env={"E2E_OAUTH_SIMULATION_KEY": standin.bypass_key})
    return run, platform.served


def history_states(tmp_path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(tmp_path / "reports" / "history.sqlite")) as db:
        return [row[0] for row in db.execute("SELECT state FROM runs")]


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_a_wrong_answer_is_a_product_defect_with_its_evidence(tmp_path: Path,
                                                              shape: Shape) -> None:
    run, served = run_shape(tmp_path, shape)
    console = run.stdout + run.stderr
    assert not [crash for crash in CRASHES if crash in console], console[-3000:]
    assert served or shape.frames, "the shaped answer was never asked for"
    latest = tmp_path / "reports" / "latest"
    assert (latest / "report.md").is_file(), console[-2000:]
    results = json.loads((latest / "results.json").read_text())
    failed = {s["name"]: s for s in results["scenarios"] if s["status"] not in ("passed",
                                                                                "skipped")}
    assert set(failed) == shape.failing, {n: s["error_message"][:300] for n, s in failed.items()}
    for scenario in failed.values():
        assert scenario["status"] == "failed"
        assert scenario["classification"] == "product defect", scenario["error_message"]
        message = scenario["error_message"]
        assert not [crash for crash in CRASHES if crash in message], message
        for words in shape.words:
            assert words in message, message
    assert history_states(tmp_path) == ["finished"]
    assert run.returncode == shape.exit_code, console[-2000:]


def test_a_result_that_cannot_be_built_leaves_the_run_interrupted_not_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: an exception of ours while the result is built is said in one line,
    the run is not judged (exit 2), and its history row is finished as interrupted."""
    from stagecheck.gate import conclude as concluding
    from stagecheck.history.store import History

    def broken(*args: object) -> None:
        raise TypeError("unhashable type: 'list'")

    history = History(tmp_path / "history.sqlite")
    history.start("run-1", "staging", "2026-01-01T00:00:00Z", "@p1")
    monkeypatch.setattr(concluding, "result_of", broken)
    said: list[str] = []
    monkeypatch.setattr(concluding, "say", said.append)
    settings = SimpleNamespace(report_dir=str(tmp_path / "reports"), at_risk_exit=3)
    outcome = concluding.conclude(SimpleNamespace(), SimpleNamespace(settings=settings),
                                  SimpleNamespace(run_id="run-1"), history)
    assert outcome.exit_code == 2 and outcome.report is None
    assert outcome.line() == ("Release gate: could not judge · the report could not be built: "
                              "TypeError: unhashable type: 'list' · exit 2")
    assert said[0] == "stagecheck: the report could not be built: TypeError: unhashable type: 'list'"
    verdict = json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())
    assert verdict["decision"] is None and verdict["exit_code"] == 2  # latest says not judged
    reopened = History(tmp_path / "history.sqlite")
    try:
        assert reopened.state_of("run-1") == "interrupted"
    finally:
        reopened.close()


def alternating(depth: int) -> str:
    """Arrays and objects in turn, `depth` deep: `[{"a": [{"a": …}]}]`."""
    opening = "".join("[" if i % 2 == 0 else '{"a": ' for i in range(depth))
    closing = "".join("]" if i % 2 == 0 else "}" for i in reversed(range(depth)))
    return opening + "1" + closing


@pytest.mark.parametrize(("text", "deeper"), [
    (alternating(64), False), (alternating(65), True), (nested_list(64).decode(), False),
    (nested_list(65).decode(), True), ('{"a": "' + "[" * 500 + '"}', False),
    ('[' + '[1], ' * 10_000 + '1]', False), ("[" * 100_000, True), ("not json [[[", False),
], ids=["mixed-64", "mixed-65", "list-64", "list-65", "brackets-in-a-string", "wide-not-deep",
        "never-closed", "not-json"])
def test_nesting_is_measured_without_recursion(text: str, deeper: bool) -> None:
    from stagecheck.client.nesting import NestedTooDeeply, load_json

    if deeper:
        with pytest.raises(NestedTooDeeply, match="nested deeper than 64 levels"):
            load_json(text)
    else:
        with contextlib.suppress(json.JSONDecodeError):  # not JSON: refused as such, not deep
            assert load_json(text) == json.loads(text)
