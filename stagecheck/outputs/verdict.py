"""verdict.json: what a pipeline needs to act on a run, without reading the report; and, for a
run whose report could not be written, a verdict.json that says it was not judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..report.model import RunResult
from ..vocabulary import ExitCode, Status
from .reports import LATEST, VERDICT_FILE, report_paths, write_verdict_alone

__all__ = ["VERDICT_FILE", "VERDICT_SCHEMA", "not_judged_json", "record_not_judged",
           "verdict_json"]

VERDICT_SCHEMA = 1  # verdict.json's own version, apart from results.json's
FIELDS = ("schema_version", "run_id", "decision", "reason", "exit_code", "revenue_at_risk",
          "revenue_unverified", "counts", "target", "target_version", "interrupted", "shard",
          "merged_from", "reports", "report_url", "insecure_tls", "load_scale")


def _fields(result: RunResult, report_dir: str, code: ExitCode,
            report_url: str) -> dict[str, Any]:
    scenarios = result.scenarios
    paths = report_paths(report_dir, result.facts.run_id)
    return {
        "schema_version": VERDICT_SCHEMA,
        "run_id": result.facts.run_id,
        "decision": result.verdict.decision,
        "reason": result.verdict.reason,
        "exit_code": int(code),
        # one type whatever the amount (results.json read back may hold 0 for $0)
        "revenue_at_risk": float(result.impact.revenue_at_risk),
        "revenue_unverified": float(result.impact.revenue_unverified),
        "counts": {"selected": len(scenarios),
                   "passed": sum(s.status == Status.PASSED for s in scenarios),
                   "failed": sum(s.failed for s in scenarios),
                   "degraded": sum(s.degraded for s in scenarios),
                   "not_verified": sum(s.unverified for s in scenarios),
                   "not_judged": sum(s.status == Status.NOT_JUDGED for s in scenarios),
                   "left_out": sum(s.status == Status.LEFT_OUT for s in scenarios)},
        "target": result.facts.target,
        "target_version": result.facts.target_version,
        "interrupted": result.facts.interrupted,
        "insecure_tls": result.facts.insecure_tls,
        "load_scale": result.facts.load_scale,
        "shard": ("part" if result.shard.count == 0 else
                  f"{result.shard.index}/{result.shard.count}") if result.shard else "",
        "merged_from": result.merged_from,
        "reports": {fmt: str(path) for fmt, path in paths.items()},
        "report_url": report_url,
    }


def _dump(fields: dict[str, Any]) -> str:
    return json.dumps(fields, indent=2, allow_nan=False) + "\n"


def verdict_json(result: RunResult, report_dir: str, code: ExitCode,
                 report_url: str = "") -> str:
    """verdict.json: what a pipeline needs to act on the run, without reading the report."""
    return _dump(_fields(result, report_dir, code, report_url))


def not_judged_json(run_id: str, reason: str, code: ExitCode, interrupted: bool = False,
                    result: RunResult | None = None) -> str:
    """verdict.json of a run with no report: the same fields, `decision` null, `reason` why,
    no report paths; the figures of `result` when there is one, null when not."""
    fields = _fields(result, "", code, "") if result else dict.fromkeys(FIELDS)
    fields.update(schema_version=VERDICT_SCHEMA, run_id=run_id, decision=None, reason=reason,
                  exit_code=int(code), interrupted=interrupted, reports={}, report_url="")
    return _dump(fields)


def record_not_judged(report_dir: str, run_id: str, reason: str, code: ExitCode,
                      interrupted: bool = False, result: RunResult | None = None) -> None:
    """reports/<run-id>/verdict.json alone, saying the run was not judged, and `latest` pointed
    at it (or removed when that cannot be written): pipelines reading latest/verdict.json never
    read an older run's verdict."""
    write_verdict_alone(report_dir, run_id,
                        not_judged_json(run_id, reason, code, interrupted, result))


def record_refusal(report_dir: str, run_id: str, reason: str) -> None:
    """A run refused before it started writes nothing, but a `latest` an earlier run left is
    pointed at this run's not-judged verdict.json: it never shows an older verdict than the
    line printed last."""
    if (Path(report_dir) / LATEST).is_symlink():
        record_not_judged(report_dir, run_id, reason, ExitCode.NOT_JUDGED)
