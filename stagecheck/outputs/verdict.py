"""verdict.json: what a pipeline needs to act on a run, without reading the report."""

from __future__ import annotations

import json

from ..report.model import RunResult
from ..vocabulary import ExitCode, Status
from .reports import report_paths

VERDICT_FILE = "verdict.json"
VERDICT_SCHEMA = 1  # verdict.json's own version, apart from results.json's


def verdict_json(result: RunResult, report_dir: str, code: ExitCode,
                 report_url: str = "") -> str:
    """verdict.json: what a pipeline needs to act on the run, without reading the report."""
    scenarios = result.scenarios
    paths = report_paths(report_dir, result.facts.run_id)
    return json.dumps({
        "schema_version": VERDICT_SCHEMA,
        "run_id": result.facts.run_id,
        "decision": result.verdict.decision,
        "reason": result.verdict.reason,
        "exit_code": int(code),
        "revenue_at_risk": result.impact.revenue_at_risk,
        "revenue_unverified": result.impact.revenue_unverified,
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
        "shard": ("part" if result.shard.count == 0 else
                  f"{result.shard.index}/{result.shard.count}") if result.shard else "",
        "merged_from": result.merged_from,
        "reports": {fmt: str(path) for fmt, path in paths.items()},
        "report_url": report_url,
    }, indent=2, allow_nan=False) + "\n"
