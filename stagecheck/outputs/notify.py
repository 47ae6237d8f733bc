"""Notifications of a run's outcome to Slack-compatible incoming webhooks (`-D notify=URL`):
on NO-GO, on AT RISK, and on recovery (GO after a run on the same target that was not GO).
The executive summary as text and blocks; bounded in time, never failing the run, never
carrying a secret (a webhook URL is one too: messages name only its scheme and host)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..client.redact import Redactor
from ..config.settings import Settings
from ..config.values import is_loopback
from ..report.model import RunResult
from ..report.view import money
from ..vocabulary import Decision
from .published import Published

Say = Callable[[str], None]
RECOVERED = "recovered"
LOCAL_FILE = "a file on the machine that ran the gate; report_base_url publishes it as a link"


def occasion(result: RunResult) -> str:
    """Why this run is worth a message ("NO-GO", "AT RISK", "recovered"), or "" when it is not."""
    decision = result.verdict.decision
    if decision != Decision.GO:
        return str(decision)
    previous = result.changes.previous_verdict if result.changes else ""
    return RECOVERED if previous and previous != Decision.GO else ""


def critical_finding(result: RunResult) -> str:
    """The first failure, with what was measured: `500 … on GET …, in “…” (P1)`; "" if none."""
    failed = [s for s in result.scenarios if s.failed]
    if not failed:
        return ""
    first = failed[0]
    tier = f"P{first.priority}" if first.priority else "unprioritised"
    what = first.key_finding or (first.error_message.splitlines() or [str(first.status)])[0]
    return f"{what}, in “{first.name}” ({tier})"


def next_step(result: RunResult) -> str:
    steps = result.diagnosis.next_steps
    return f"{steps[0].title}: {steps[0].because}" if steps else ""


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}"


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_message(result: RunResult, target: str, report: str) -> dict[str, Any]:
    """The executive summary as a Slack-compatible message: `text` (the fallback every client
    shows) and `blocks` (verdict, revenue, critical finding, next step, report link)."""
    kind = occasion(result) or str(result.verdict.decision)
    decision = result.verdict.decision
    title = (f"Release gate recovered: GO on {target}" if kind == RECOVERED
             else f"Release gate: {decision} on {target}")
    version = result.facts.target_version or "unknown"
    finding, step = critical_finding(result), next_step(result)
    published = report.startswith(("https://", "http://"))
    location = report if published or not report else str(Path(report).resolve())  # never relative
    link = f"<{report}|Open the report>" if published else \
        f"Report: `{_escape(location)}` ({LOCAL_FILE})"
    lines = [f"{title}: {result.verdict.reason}.",
             f"Revenue at risk: {money(result.impact.revenue_at_risk)} MRR."]
    lines += [f"Critical finding: {finding}."] if finding else []
    lines += [f"Next step: {step}."] if step else []
    lines += [f"Report: {location}" + ("" if published else f" ({LOCAL_FILE})")] if report else []
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Verdict*\n{decision}"},
            {"type": "mrkdwn", "text": f"*Revenue at risk*\n{money(result.impact.revenue_at_risk)} MRR"},
            {"type": "mrkdwn", "text": f"*Target*\n{_escape(target)}"},
            {"type": "mrkdwn", "text": f"*Version*\n{_escape(version)}"}]},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*Why*\n{_escape(result.verdict.reason)}"}},
    ]
    if finding:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"*Critical finding*\n{_escape(finding)}"}})
    if step:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"*Next step*\n{_escape(step)}"}})
    if report:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"text": "\n".join(lines), "blocks": blocks}


def _redact(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, redact) for item in value]
    return value


def _through_proxy(url: str) -> bool:
    """A proxy from the environment carries only https:// to another host (TLS end to end, the
    proxy sees a tunnel); plain http:// (loopback only, by the setting's check) never goes
    through one, since the webhook's URL is a secret the proxy would read in clear."""
    parts = urlsplit(url)
    return parts.scheme == "https" and not is_loopback(parts.hostname or "")


def _post(url: str, body: bytes, timeout: float, outcome: dict[str, str]) -> None:
    try:
        answer = httpx.post(url, content=body, timeout=timeout, follow_redirects=False,
                            headers={"Content-Type": "application/json"},
                            trust_env=_through_proxy(url))
    except httpx.TimeoutException:
        outcome[url] = f"did not answer within {timeout:g} s"
        return
    except httpx.HTTPError as exc:
        outcome[url] = f"failed: {type(exc).__name__}"
        return
    outcome[url] = "" if answer.is_success else \
        f"was refused: HTTP {answer.status_code} {answer.reason_phrase}".rstrip()


def notify(result: RunResult, settings: Settings, target: str, report: str, say: Say) -> None:
    """Post the summary to every `notify` webhook when the run is worth a message, all at once
    and within `notify_timeout` seconds in all; a failure is one line on the console."""
    kind = occasion(result)
    if not kind or not settings.notify:
        return
    payload = _redact(summary_message(result, target, report), Redactor(settings.secrets))
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    outcome: dict[str, str] = {}
    threads = [threading.Thread(target=_post, args=(url, body, settings.notify_timeout, outcome),
                                daemon=True, name=f"notify {_where(url)}")
               for url in settings.notify]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + settings.notify_timeout + 1.0  # httpx bounds each phase only
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    for url in settings.notify:
        problem = outcome.get(url, f"did not answer within {settings.notify_timeout:g} s")
        if problem:
            say(f"stagecheck: the {kind} notification to {_where(url)} {problem}; the run's "
                "verdict stands")


def publish(result: RunResult, published: Published) -> None:
    """The notifications of `-D notify=`."""
    notify(result, published.settings, published.target_key, published.report, published.say)
