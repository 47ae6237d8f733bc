"""Agent answers proven real: the known-answer probe, the canned texts of the platform's agent
route (routes/agents_execute.py), and the gate's own requests never switching its shortcuts."""

from __future__ import annotations

import re

import pytest

from stagecheck.platform.agents import KnownAnswer, canned_answer_problem, known_answer
from stagecheck.platform.contract import switches_test_shortcut
from tests.behave_run import ROOT

PROBE = KnownAnswer(123, 456)


@pytest.mark.parametrize(("answer", "problem"), [
    ("579 is the sum you asked for; agent servers: filesystem", ""),
    ("Fallback general agent response: Successfully processed 'How can I reduce my model costs? "
     "Also, what is 123 plus 456?' using recovery mechanism", "a fallback or a mock"),
    ("Mock triage agent response for: How can I reduce costs? Also, what is 123 plus 456?",
     "a fallback or a mock"),
    ("Mock general response (timeout fallback): How can I reduce costs? 579", "a fallback or a mock"),
    ("Here are three ways to reduce your model costs.", "does not answer"),
    ("Also, what is 123 plus 456?", "does not answer"),  # an echo of the question
    ("5790 tokens saved", "does not answer"),
])
def test_an_answer_is_real_only_with_the_known_answer_and_no_canned_text(answer: str,
                                                                           problem: str) -> None:
    found = canned_answer_problem(answer, PROBE)
    assert (found == "") if not problem else (problem in found), found


def test_two_requests_never_share_a_known_answer() -> None:
    probes = {known_answer() for _ in range(50)}
    assert all(str(p.answer) not in p.question for p in probes)
    assert len({(p.a, p.b) for p in probes}) > 40


@pytest.mark.parametrize(("message", "switches"), [
    ("How can I reduce my model costs?", False), ("Which agent servers can I use?", False),
    ("Run the latest report", True), ("Test the triage", True), ("WebSocket check", True),
    ("TIMEOUT please", True), ("FORCE_ERROR", True), ("a TEST of it", True)])
def test_the_platforms_test_shortcuts_are_recognised(message: str, switches: bool) -> None:
    assert switches_test_shortcut(message) is switches


def test_no_agent_request_in_the_features_switches_a_shortcut() -> None:
    asked = [m for path in (ROOT / "features").glob("*.feature")
             for m in re.findall(r'(?:asks an agent|the request) "([^"]+)"', path.read_text())]
    assert asked and not [m for m in asked if switches_test_shortcut(m)]
