"""Who runs which scenario in a run in workers: the first process to claim a unit (a scenario,
or an outline with all its rows) runs it, and every other process passes it by. A claim is a
file created exclusively in the run's claims folder, so the run's process and the workers it
started (see `workers.py`) share the selection without a coordinator; `stopped` is how a
`--stop` failure in any of them tells the others to start nothing more.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .selection import Unit

CLAIMS = "STAGECHECK_CLAIMS"  # a worker's environment: the run's claims folder
ALONE = frozenset({"serial", "load"})  # tags of scenarios that must run with nothing beside them


def alone(unit: Unit) -> bool:
    tags = {str(t) for t in (*unit.feature.tags, *unit.model.tags)}
    return bool(tags & ALONE)


def _name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class Claims:
    """The claims of one run, seen from one process (`who`): what it took, and what anyone took.

    The run's own process may take every unit; a worker never takes one that must run alone
    (the run's process runs those, after its workers are done)."""

    def __init__(self, folder: Path, units: Sequence[Unit], who: str, *, helper: bool) -> None:
        self.folder, self.who, self.helper = folder, who, helper
        self.units = list(units)
        self.key_of = {id(s): u.key for u in units
                       for s in getattr(u.model, "scenarios", [u.model])}
        self.alone = {u.key for u in units if alone(u)}
        self.mine: set[str] = set()
        self._durations: dict[str, float] = {}  # finished claims seen by `pace`
        folder.mkdir(parents=True, exist_ok=True)
        self._same_selection()

    def _same_selection(self) -> None:
        """The run's own process writes down its selection; a worker whose own differs (its
        behave saw other features or options) refuses to take any of it."""
        written, keys = self.folder / "selection.json", [u.key for u in self.units]
        if not self.helper:
            written.write_text(json.dumps(keys), encoding="utf-8")
        elif json.loads(written.read_text(encoding="utf-8")) != keys:
            raise ConfigError("this worker selected other scenarios than the run it works for "
                              "(an option of the run's command it was not given): it takes none")

    def must_run_alone(self, scenario: Any) -> bool:
        return self.key_of.get(id(scenario)) in self.alone

    def take(self, scenario: Any) -> bool:
        """Whether this process runs `scenario`: it is not a unit of the selection, it was
        already taken here (an outline's next row), or this process takes it now (a worker
        never takes one that must run alone)."""
        key = self.key_of.get(id(scenario))
        if key is None or key in self.mine:
            return True
        if self.helper and key in self.alone:
            return False
        try:
            handle = os.open(self.folder / _name(key), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w", encoding="utf-8") as claim:
            json.dump({"key": key, "who": self.who, "at": time.time()}, claim)
        self.mine.add(key)
        return True

    def done(self, scenario: Any, *, stop: bool) -> None:
        """The scenario this process ran has ended (an outline: its row); `stop`: it failed
        under --stop, and no process starts another scenario."""
        if stop:
            (self.folder / "stopped").touch()
        key = self.key_of.get(id(scenario))
        if key in self.mine:
            (self.folder / f"{_name(key)}.done").touch()

    def taken(self) -> set[str]:
        return {u.key for u in self.units if (self.folder / _name(u.key)).exists()}

    def _claims(self) -> list[tuple[str, dict[str, Any]]]:
        """Every claim made so far (its file's name and what it says); one still being written
        is left for the next look."""
        found = []
        for claim in self.folder.iterdir():
            if claim.suffix or claim.name == "stopped":  # .done, selection.json
                continue
            try:
                found.append((claim.name, json.loads(claim.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
        return found

    def waiting_longest(self, now: float) -> float:
        """How long the oldest scenario still running anywhere has run, in seconds (0 if none)."""
        running = [float(said.get("at", now)) for name, said in self._claims()
                   if not (self.folder / f"{name}.done").exists()]
        return now - min(running, default=now)

    def pace(self) -> float | None:
        """How long a finished scenario has taken on average, anywhere in the run (None before
        the first has finished); an outline's rows count as one each."""
        for name, said in self._claims():
            done = self.folder / f"{name}.done"
            if name not in self._durations and done.exists():
                self._durations[name] = max(0.0, done.stat().st_mtime - float(said.get("at", 0)))
        return sum(self._durations.values()) / len(self._durations) if self._durations else None

    def claimants(self) -> set[str]:
        """Who has taken anything so far."""
        return {str(said.get("who", "")) for _, said in self._claims()}

    def open_units(self) -> list[Unit]:
        """Units no process has taken yet that a worker may take."""
        taken = self.taken()
        return [u for u in self.units if u.key not in taken and u.key not in self.alone]

    def stopped(self) -> bool:
        return (self.folder / "stopped").exists()

    def kept(self, unclaimed_too: bool) -> set[str]:
        """The units this process reports: those it ran, and (the run's own process) those
        nobody took, which it reports as not reached or left out as one process would."""
        if not unclaimed_too:
            return set(self.mine)
        taken = self.taken()
        return self.mine | {u.key for u in self.units if u.key not in taken}


def keep_only(features: Iterable[Any], units: Sequence[Unit], keys: set[str]) -> None:
    """Leave in `features` only the units in `keys` (and what the selection does not name)."""
    others = {id(u.model) for u in units if u.key not in keys}
    for feature in features:  # behave runs `run_items`; reports walk `scenarios`
        feature.scenarios[:] = [s for s in feature.scenarios if id(s) not in others]
        feature.run_items[:] = [s for s in feature.run_items if id(s) not in others]
