"""The result model of a run: plain dataclasses, built once, saved as results.json.

Schema (version 1), documented field by field in docs/results-schema.md. Every renderer
reads only this model, so a report can be rendered again from a saved results.json.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from ..errors import ResultsFileError
from ..vocabulary import Classification, Decision, Status, TargetKind

RESULTS_SCHEMA_VERSION = 1


@dataclass
class StepResult:
    keyword: str
    name: str
    status: Status
    duration_s: float
    error_message: str = ""
    error_type: str = ""
    step_type: str = ""              # given, when or then (And/But take the one before)
    checks: int | None = None        # checks the step made; None when not recorded

    def __post_init__(self) -> None:
        if self.status.__class__ is not Status:  # Status(member) is the member, only slower
            self.status = Status(self.status)

    @property
    def checked_nothing(self) -> bool:
        """A passing Then step that checked nothing: it proved nothing (a "hollow check")."""
        return self.status == Status.PASSED and self.step_type == "then" and self.checks == 0


@dataclass
class ScenarioResult:
    name: str
    feature: str
    location: str
    tags: list[str]
    priority: int | None
    revenue: float | None
    area: str
    status: Status
    duration_s: float                # wall time, hooks included
    steps: list[StepResult] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    assertions: int = 0
    key_finding: str = ""
    classification: Classification = Classification.NONE
    error_message: str = ""
    skip_reason: str = ""
    owner: str = ""                  # the team its feature's @owner tag names
    measures: dict[str, float] = field(default_factory=dict)  # percentiles of a load run, in s

    def __post_init__(self) -> None:
        if self.status.__class__ is not Status:  # a plain string from a caller becomes the enum
            self.status = Status(self.status)
        if self.classification.__class__ is not Classification:
            self.classification = Classification(self.classification)

    @property
    def failed(self) -> bool:
        return self.status.failed

    @property
    def unverified(self) -> bool:
        return self.status.unverified

    @property
    def broke(self) -> bool:
        """Failed, for whoever's fault: the product's (failed) or another's (not judged)."""
        return self.status.failed or self.status == Status.NOT_JUDGED

    @property
    def degraded(self) -> bool:
        return self.status == Status.DEGRADED

    @property
    def exchanged_nothing(self) -> bool:
        """Passed without a single exchange with the target: it proved nothing (a "hollow
        scenario")."""
        return self.status == Status.PASSED and not self.exchanges


@dataclass
class RunFacts:
    run_id: str
    started_at: str
    finished_at: str
    duration_s: float
    target: str
    backend_url: str
    auth_url: str
    ws_url: str
    target_version: str
    tag_expression: str
    stop_on_failure: bool
    interrupted: bool
    standin_faults: list[str]
    insecure_tls: bool
    versions: dict[str, str]
    standin_variant: str = ""
    expected_version: str = ""  # the build being released (-D expected_version), "" when unsaid
    target_version_at_start: str = ""  # target_version is read at the end; a change is no verdict
    load_scale: float | None = None  # -D load_scale of a run that selected the load tier


@dataclass
class TierImpact:
    """One revenue pool: a priority tier, or an area."""

    name: str
    revenue: float
    scenarios: int
    passed: int
    failed: int
    unverified: int
    at_risk: float
    unverified_revenue: float
    degraded: int = 0                # held the hard budget, not the soft one
    owners: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.scenarios if self.scenarios else 0.0


@dataclass
class Impact:
    revenue_at_risk: float
    revenue_unverified: float
    by_priority: list[TierImpact]
    by_area: list[TierImpact]
    rule: str


@dataclass
class Verdict:
    decision: Decision
    reason: str


@dataclass
class HealthProbe:
    url: str
    status: int | None
    elapsed_s: float
    body: str
    up: bool
    error: str = ""


@dataclass
class SchemaProbe:
    database: str
    reachable: bool
    missing_tables: list[str]
    current_revision: str
    expected_revision: str
    revisions_behind: int | None
    error: str = ""


@dataclass
class NextStep:
    title: str
    actions: list[str]
    because: str


@dataclass
class Diagnosis:
    health: HealthProbe | None
    schema: SchemaProbe | None
    root_cause: str
    next_steps: list[NextStep]


@dataclass
class StillFailing:
    name: str
    since_run_id: str
    since: str
    runs: int


@dataclass
class Flaky:
    name: str
    flips: int
    runs: int


@dataclass
class Slower:
    name: str
    duration_s: float
    usual_s: float


@dataclass
class Verification:
    """A scenario whose being verified changed since the previous run: its status now."""

    name: str
    status: str


@dataclass
class SameVersion:
    """The backend reported one version for builds known to differ: it does not name its build."""

    reported: str
    builds: list[str]      # the builds released, oldest first, this run's last
    since_run_id: str      # the oldest run of them


@dataclass
class TrendPoint:
    run_id: str
    started_at: str
    pass_rate: float
    at_risk: float
    verdict: str


@dataclass
class Changes:
    """Against the earlier runs on the same target (from the run history)."""

    previous_run_id: str = ""
    previous_verdict: str = ""
    newly_failing: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    still_failing: list[StillFailing] = field(default_factory=list)
    flaky: list[Flaky] = field(default_factory=list)
    slower: list[Slower] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    newly_verified: list[Verification] = field(default_factory=list)
    no_longer_verified: list[Verification] = field(default_factory=list)
    same_version: SameVersion | None = None


@dataclass
class SelectedScenario:
    """A scenario of the whole selection, as a shard knows it (to merge shards into one run)."""

    key: str
    name: str
    feature: str
    location: str
    tags: list[str]
    priority: int | None
    revenue: float | None
    area: str
    shard: int  # the shard that runs it


@dataclass
class Shard:
    """This run is shard `index` of `count`: its scenarios are its share of `selection`."""

    index: int
    count: int
    selection: list[SelectedScenario]


@dataclass
class Capability:
    """A feature in plain words: who relies on it, what they can do with it, what they lose."""

    name: str                        # the feature's name, as in ScenarioResult.feature
    area: str
    description: str                 # the feature's free text, for product people
    who: str = "users"
    can: str = ""                    # reads after "<who> can"; "" when the table has no entry
    cannot: str = ""                 # reads after "<who> cannot"


@dataclass
class RunResult:
    schema_version: int
    facts: RunFacts
    scenarios: list[ScenarioResult]
    impact: Impact
    verdict: Verdict
    diagnosis: Diagnosis
    changes: Changes | None = None  # None when no history was kept
    shard: Shard | None = None      # None for a whole run (or a merged one)
    merged_from: list[str] = field(default_factory=list)  # the shard runs merged into this one
    capabilities: list[Capability] = field(default_factory=list)  # the features run, in order

    def to_json(self) -> str:
        # Compact and without dataclasses.asdict's deep copy: 10,000 scenarios in ~0.1 s.
        return json.dumps(self, default=_fields, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)  # NaN and Infinity are not JSON

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        """The model of a saved results.json; ResultsFileError saying what is wrong with it."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ResultsFileError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ResultsFileError("not a JSON object")
        if data.get("schema_version") != RESULTS_SCHEMA_VERSION:
            raise ResultsFileError(f"results.json has schema version {data.get('schema_version')!r}; "
                                   f"this stagecheck reads version {RESULTS_SCHEMA_VERSION}")
        try:
            return _build(cls, data)
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise ResultsFileError(f"{type(exc).__name__}: {exc}") from None


T = TypeVar("T")


def _fields(value: Any) -> dict[str, Any]:
    # Its own fields, read by the encoder and not copied: a dataclass of the model has no others.
    if hasattr(type(value), "__dataclass_fields__"):
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is not part of the result model")


def _build(kind: type[T], data: Any) -> T:
    """Rebuild nested dataclasses from what asdict() wrote."""
    if is_dataclass(kind) and isinstance(data, dict):
        hints = get_type_hints(kind)
        return kind(**{f.name: _build(hints[f.name], data[f.name])
                       for f in fields(kind) if f.name in data})
    origin = get_origin(kind)
    if origin is list:
        (item,) = get_args(kind)
        return [_build(item, value) for value in data]  # type: ignore[return-value]
    if origin is not None and type(None) in get_args(kind):  # X | None
        inner = next(a for a in get_args(kind) if a is not type(None))
        return None if data is None else _build(inner, data)  # type: ignore[return-value]
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    return data


PART = 0  # Shard.count of a part: not one of N shards, but what its runner gave it


def scenario_key(feature: str, name: str) -> str:
    return f"{feature} / {name}"


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", plain.lower()).strip("-") or "x"


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def scenario_anchor(feature: str, name: str) -> str:
    """The id of a scenario's entry in the catalog (`catalog.html#<it>`), the same wherever it
    is computed: lower-case ASCII words joined by `-`, feature and scenario apart by `--`."""
    return f"{_slug(feature)}--{_slug(name)}"


def target_key(target: str, backend_url: str, standin_faults: tuple[str, ...] = (),
               standin_variant: str = "") -> str:
    """The embedded stand-in is one target whatever port it got (one per variant and set of
    faults: a stand-in with a fault is another platform); elsewhere, the backend URL."""
    if target != TargetKind.LOCAL:
        return backend_url
    variant = f"@{standin_variant}" if standin_variant and standin_variant != "default" else ""
    return "local" + variant + "".join(f"+{fault}" for fault in sorted(standin_faults))
