"""The specification as product people read it: the feature files, read with behave's own parser
(outlines expanded as behave runs them), from the checkout or from a git ref."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from behave.model import Feature as BehaveFeature
from behave.parser import ParserError, parse_feature

from ..errors import ConfigError
from ..report.impact import business_tags, owner_tag
from ..report.model import scenario_anchor

OUTLINE_SUFFIX = re.compile(r"\s+-- @[\d.]+.*$")
DESTRUCTIVE = "destructive"
GIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Table:
    headings: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Step:
    keyword: str
    text: str
    step_type: str           # given, when or then (And and But take the type before them)
    table: Table | None = None
    faults: list[str] = field(default_factory=list)  # the faults that prove a Then step


@dataclass(frozen=True)
class Scenario:
    name: str                 # as behave runs it: an outline's name with its example filled in
    feature: str
    anchor: str               # a stable id of its entry in the catalog (report links to it)
    location: str
    tier: int | None
    revenue: float | None
    area: str
    owner: str
    destructive: bool
    tags: list[str]
    steps: list[Step]
    outline: str = ""         # the outline's own name, when it comes from one
    examples: list[Table] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Its words, name and steps, to tell a rewording."""
        return "\n".join([self.name, *(f"{s.keyword} {s.text}" for s in self.steps),
                          *(" | ".join(row) for s in self.steps if s.table for row in s.table.rows)])


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    tags: list[str]
    file: str
    scenarios: list[Scenario]


def _table(table: object) -> Table | None:
    if table is None:
        return None
    return Table(list(table.headings), [list(row) for row in table.rows])  # type: ignore[attr-defined]


def _feature(parsed: BehaveFeature, file: str) -> Feature:
    feature_tags = [str(tag) for tag in parsed.tags]
    outlines = {id(s): s for s in parsed.scenarios if hasattr(s, "examples")}
    scenarios = []
    for outline in parsed.scenarios:
        for scenario in getattr(outline, "scenarios", [outline]):
            own = [str(tag) for tag in scenario.tags]
            tier, revenue, area = business_tags(feature_tags, own)
            name = OUTLINE_SUFFIX.sub("", scenario.name)
            source = outlines.get(id(outline))
            scenarios.append(Scenario(
                name=name, feature=parsed.name, anchor=scenario_anchor(parsed.name, name),
                location=f"{file}:{scenario.line}", tier=tier, revenue=revenue, area=area,
                owner=owner_tag(feature_tags, own), destructive=DESTRUCTIVE in own,
                tags=sorted(set(feature_tags) | set(own)),
                steps=[Step(step.keyword, step.name, step.step_type, _table(step.table))
                       for step in scenario.steps],
                outline=source.name if source else "",
                examples=[t for e in (source.examples if source else []) if (t := _table(e.table))]))
    return Feature(parsed.name, "\n".join(parsed.description), feature_tags, file, scenarios)


def parse_text(text: str, file: str) -> Feature | None:
    """One feature file's text; None when it holds no feature; ConfigError when it cannot be read."""
    try:
        parsed = parse_feature(text, filename=file)
    except ParserError as exc:
        raise ConfigError(f"{file} cannot be read as a feature file: {exc}") from None
    return _feature(parsed, file) if parsed is not None else None


def read_features(folder: Path) -> list[Feature]:
    """The feature files of a folder, by file name."""
    paths = sorted(folder.glob("*.feature"))
    if not paths:
        raise ConfigError(f"{folder} holds no .feature files")
    found = [parse_text(path.read_text(encoding="utf-8"), f"{folder.name}/{path.name}")
             for path in paths]
    return [feature for feature in found if feature is not None]


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"git could not run in {repo}: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} in {repo}: "
                          f"{(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout


def read_features_at(folder: Path, ref: str) -> list[Feature]:
    """The feature files of `folder` as they were at a git ref (`git show REF:path`)."""
    folder = folder.resolve()
    top = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    inside = folder.relative_to(top).as_posix()
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ConfigError:
        raise ConfigError(f"{ref!r} names no commit or tag in {top}") from None
    names = [name for name in _git(top, "ls-tree", "--name-only", f"{ref}:{inside}").splitlines()
             if name.endswith(".feature")]
    found = [parse_text(_git(top, "show", f"{ref}:{inside}/{name}"), f"{folder.name}/{name}")
             for name in sorted(names)]
    return [feature for feature in found if feature is not None]
