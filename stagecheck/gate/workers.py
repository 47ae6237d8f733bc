"""Parallel scenarios in one run (`-D workers=N`): the run's own process runs the selection as
one process does, and starts more workers (behave processes against the same target, the
stand-in started once) only while the target keeps a scenario waiting: each takes the next
scenario nobody has taken (`claims.py`). On a quick target no worker starts and the run is the
one-process run; on a slow one up to N run at once. One console listing in file order, one
verdict line, one report, one history entry, the same exit status.

Scenarios that must run alone (`@serial`, the load tier) are run by the run's own process
after its workers have ended. An outline runs whole in one process. Each worker is a part
(`-D partial=true`): its results hold what it ran, merged with the run's own at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..outputs.console import say
from ..report.merge import NOT_IN_ANY_PART, merge_results
from ..report.model import RunResult
from ..report.view import seconds, tally
from ..vocabulary import RAN, Status
from .claims import CLAIMS, Claims, alone, keep_only
from .pool import WHO, Pool
from .selection import part_selection, pre_skipped, units_of

LOST_WITH_ITS_WORKER = ("not run: the worker that took it ended without its results (see the "
                        "console)")
STOPPED_ELSEWHERE = ("not reached: the run stopped at a failure in another of its workers "
                     "(--stop)")
# behave's formatters that only show the run on the console; any other is an output of its
# own (JSON, rerun, …) that would see one process's share only.
CONSOLE = frozenset({"pretty", "plain", "progress", "progress2", "progress3", "null"})


def own_outputs(config: Any) -> bool:
    """Whether behave writes outputs of its own (--junit, -o, a JSON formatter, …)."""
    return bool(config.junit or config.outfiles
                or any(name not in CONSOLE for name in config.format or []))


def same_target_version(own: RunResult, workers: list[RunResult]) -> None:
    """Every piece named with the build the run's own process saw: at its start, and at its
    end or the first other build any piece saw (then the run is about no build: see
    build_changed). A piece whose probe got no answer counts as seeing the same build."""
    facts = own.facts
    seen = [v for v in (facts.target_version_at_start, facts.target_version,
                        *(w.facts.target_version_at_start for w in workers),
                        *(w.facts.target_version for w in workers)) if v]
    first = facts.target_version_at_start or (seen[0] if seen else "")
    other = next((v for v in seen if v != first), facts.target_version)
    facts.target_version_at_start, facts.target_version = first, other
    for worker in workers:
        worker.facts.target_version_at_start, worker.facts.target_version = first, other


def assembled(own: RunResult, claims: Claims, pool: Pool, run_id: str) -> RunResult:
    """The run's result: its own process's and its workers', as one run (its id kept); what a
    worker had taken and left no result for is not verified."""
    if not pool.processes:
        return own
    workers = pool.results()
    own.shard = part_selection(claims.units, claims.kept(unclaimed_too=True))
    same_target_version(own, workers)
    result = merge_results([own, *workers])
    result.facts.run_id, result.merged_from = run_id, []  # the pieces are not kept
    for scenario in result.scenarios:
        if scenario.key_finding == NOT_IN_ANY_PART:
            scenario.key_finding = LOST_WITH_ITS_WORKER
    return result


def listing(result: RunResult) -> None:
    """The run's scenarios in file order, one line each, and what each one not passed found."""
    for scenario in result.scenarios:
        took = f" ({seconds(scenario.duration_s)})" if scenario.status in RAN else ""
        say(f"  {scenario.status:<10}  {scenario.feature}: {scenario.name}{took}")
        if scenario.status != Status.PASSED:
            say(f"  {'':<10}  {scenario.key_finding}")
    say(f"{tally(result.scenarios)} in {seconds(result.facts.duration_s)}")


def alone_last(features: list[Any], config: Any) -> list[Any]:
    """The features in the order the run's own process runs them: those with a scenario that
    must run alone last (it waits for its workers to end before such a scenario)."""
    waits = {id(u.feature) for u in units_of(features, config) if alone(u)}
    return [f for f in features if id(f) not in waits] + [f for f in features if id(f) in waits]


def open_claims(context: Any, settings: Settings, target: Any) -> tuple[Claims | None,
                                                                          Pool | None]:
    """This process's claims: a worker's (its environment names the run's folder), or the
    run's own when it runs in workers (the runner made the folder), with the pool that starts
    its workers; (None, None) for a run of one process. Scenarios outside the `file:line`
    asked for are no one's to take."""
    features, config = context._runner.features, context.config
    units = [u for u in units_of(features, config) if not pre_skipped(u.model)]
    if CLAIMS in os.environ and settings.partial:
        return Claims(Path(os.environ[CLAIMS]), units, os.environ.get(WHO, "worker"),
                      helper=True), None
    folder = getattr(context, "gate_workers_folder", None)
    if folder is None:
        return None, None
    claims = Claims(folder / "claims", units, "worker-1", helper=False)
    return claims, Pool(config, settings, claims, target, folder)


def before_scenario(context: Any, claims: Claims) -> bool:
    """Whether this process runs the scenario about to start (it claims it); the run's own
    process first waits for its workers to end before one that must run alone."""
    pool = getattr(context, "gate_pool", None)
    if pool is not None and claims.must_run_alone(context.scenario):
        pool.drain()
    return claims.take(context.scenario)


def end_claims(context: Any, claims: Claims, pool: Pool | None,
               run_id: str) -> Callable[[RunResult], RunResult] | None:
    """At the end of a process of a run in workers: its workers ended (interrupted if the run
    was), its scenarios left to what it reports; what assembles the run's result, for the
    run's own process."""
    if pool is not None:
        try:
            pool.close() if getattr(context, "aborted", False) else pool.drain()
        except KeyboardInterrupt:
            context._runner.abort(reason="KeyboardInterrupt")
    keep_only(context._runner.features, claims.units, claims.kept(unclaimed_too=not claims.helper))
    if pool is None:
        context.gate_shard = part_selection(claims.units, claims.mine)
        return None

    def assemble(own: RunResult) -> RunResult:
        result = assembled(own, claims, pool, run_id)
        if pool.processes:  # the console went quiet when the first one started
            listing(result)
        return result
    return assemble


def quiet_once_shared(context: Any) -> None:
    """Between two scenarios of the run's own process, once a worker has started: behave's
    console stops (it would show the workers' scenarios as skipped) and the run ends with one
    listing of every scenario in file order instead."""
    pool = getattr(context, "gate_pool", None)
    runner = context._runner
    if pool is None or not pool.processes or not runner.formatters:
        return
    for formatter in runner.formatters:
        formatter.close()
    runner.formatters = []
    runner.config.reporters = []  # behave's summary would count this process's share
