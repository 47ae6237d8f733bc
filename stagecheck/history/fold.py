"""Each scenario's outcomes in the past runs, folded in SQL into bit masks (bit n: the n-th newest
past run), and what what changed needs read back from them: the newest outcome, the failing
streak, the flips on this version, and the usual durations of the few that may be slower."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass

from ..vocabulary import Status


@dataclass(frozen=True)
class PastRun:
    run_id: str
    started_at: str
    state: str
    verdict: str | None
    revenue_at_risk: float | None
    scenarios: int | None
    passed: int | None
    target_version: str | None
    expected_version: str | None = None


@dataclass(frozen=True)
class ScenarioHistory:
    """One scenario of this run against its outcomes in the past runs where it ran (newest
    first), as far as what changed needs them (see `History.histories`)."""

    position: int             # its place in the run
    last_status: str | None   # the newest past outcome (passed or failed); None: never ran
    failing_streak: int       # past outcomes failing in a row, newest first
    since_run_id: str | None  # the oldest run of that streak
    since_started_at: str | None
    usual_durations: tuple[float, ...]  # its last passing durations (FLAKY_WINDOW)
    same_version_runs: int    # past outcomes on this target version looked at for flips
    same_version_flips: int   # flips among those
    newest_same_version_passed: bool | None


MAX_PAST = 62  # past runs fit in the bits of one SQLite integer
# Per scenario, over the past runs (temp.past_run, n = 0 the newest, bit = 1 << n): bit masks of
# the runs where it ran and where it passed; its fastest passing time. (Where it ran on this
# version is that first mask and the past runs' own, in Python: one aggregate less per row.)
FOLDED = """
SELECT s.scenario_key,
       sum(p.bit),
       sum(CASE WHEN s.status = 'passed' THEN p.bit ELSE 0 END),
       min(CASE WHEN s.status = 'passed' THEN s.duration_s END)
FROM temp.past_run p CROSS JOIN scenario_runs s ON s.run_id = p.run_id
WHERE s.status IN ({statuses})
GROUP BY s.scenario_key
"""


# Per scenario that may be slower (temp.slower_key), its durations in the newest `window` past
# runs where it passed: each looked up by primary key, in one query.
USUAL_DURATIONS = """
SELECT scenario_key, duration_s FROM (
    SELECT k.key AS scenario_key, s.duration_s,
           row_number() OVER (PARTITION BY k.key ORDER BY p.n) AS newest
    FROM temp.slower_key k CROSS JOIN temp.past_run p
    CROSS JOIN scenario_runs s ON s.run_id = p.run_id AND s.scenario_key = k.key
    WHERE s.status = ?
) WHERE newest <= ?
"""


# Per scenario and measure, its values in the past runs (temp.past_run) where the scenario
# passed, newest first, at most `window` of them.
USUAL_MEASURES = """
SELECT scenario_key, measure, value FROM (
    SELECT m.scenario_key, m.measure, m.value, p.n,
           row_number() OVER (PARTITION BY m.scenario_key, m.measure ORDER BY p.n) AS newest
    FROM temp.past_run p
    CROSS JOIN scenario_runs s ON s.run_id = p.run_id AND s.status = ?
    JOIN scenario_measures m ON m.run_id = s.run_id AND m.scenario_key = s.scenario_key
    WHERE s.scenario_key IN ({marks})
) WHERE newest <= ? ORDER BY n
"""


def past_runs_table(db: sqlite3.Connection, past: list[PastRun]) -> None:
    """The past runs compared against, as temp.past_run (n = 0 the newest, bit = 1 << n)."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS past_run (n INTEGER PRIMARY KEY, "
               "run_id TEXT, bit INTEGER)")
    db.execute("DELETE FROM temp.past_run")
    db.executemany("INSERT INTO temp.past_run VALUES (?, ?, ?)",
                   ((n, r.run_id, 1 << n) for n, r in enumerate(past)))


def same_version(past: list[PastRun], version: str) -> int:
    """The mask of the past runs on this target version."""
    return sum(1 << n for n, r in enumerate(past) if r.target_version == version)


def usual_durations(db: sqlite3.Connection, keys: list[str], window: int
                    ) -> dict[str, tuple[float, ...]]:
    """For these scenarios, their durations in the newest `window` past runs (temp.past_run)
    where they passed: one query, whatever their number."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS slower_key (key TEXT PRIMARY KEY)")
    db.execute("DELETE FROM temp.slower_key")
    db.executemany("INSERT OR IGNORE INTO temp.slower_key VALUES (?)", ((key,) for key in keys))
    found: dict[str, list[float]] = {}
    for key, duration in db.execute(USUAL_DURATIONS, (str(Status.PASSED), window)):
        found.setdefault(key, []).append(duration)
    return {key: tuple(values) for key, values in found.items()}


def bits(mask: int, limit: int = MAX_PAST) -> list[int]:
    """The set bits of a mask, lowest (the newest run) first; at most `limit` of them."""
    found: list[int] = []
    while mask and len(found) < limit:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


def scenario_history(position: int, past: list[PastRun], ran: int, passed: int, same: int,
                     usual: tuple[float, ...], window: int) -> ScenarioHistory:
    """A scenario's history from its bit masks (see FOLDED)."""
    newest = (ran & -ran).bit_length() - 1
    first_pass = passed & -passed
    streak = (ran & ~passed) & (first_pass - 1 if first_pass else ran)  # failing runs, newest
    since = past[streak.bit_length() - 1] if streak else None            # first, in a row
    same_version = [bool(passed >> n & 1) for n in bits(ran & same, window - 1)]
    flips = sum(a != b for a, b in itertools.pairwise(same_version))
    return ScenarioHistory(position, Status.PASSED if passed >> newest & 1 else Status.FAILED,
                           streak.bit_count(), since.run_id if since else None,
                           since.started_at if since else None, usual, len(same_version), flips,
                           same_version[0] if same_version else None)
