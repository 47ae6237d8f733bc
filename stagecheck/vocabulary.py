"""The words the code decides on, one enum each: a scenario's status, why it failed, the verdict,
the channel of an exchange, the state of a run in the history, the diagnosis findings, the exit
status, the kind of target, the report formats and how a deploy loop ended."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Status(StrEnum):
    """A scenario's or a step's outcome (behave's words, plus `untested` for never reached,
    `degraded` for a scenario that held its hard budget but not its soft one: neither failed
    nor unverified, and never GO; `not judged` for one that broke for a cause that is not the
    product's: the environment, the configuration, or the gate itself; `left out` for one the
    run's policy kept from running, such as a scenario that writes data, on production)."""

    PASSED = "passed"
    DEGRADED = "degraded"
    FAILED = "failed"
    ERROR = "error"
    NOT_JUDGED = "not judged"
    SKIPPED = "skipped"
    UNTESTED = "untested"
    UNDEFINED = "undefined"
    PENDING = "pending"
    LEFT_OUT = "left out"

    @property
    def failed(self) -> bool:
        return self in FAILED

    @property
    def unverified(self) -> bool:
        return self in UNVERIFIED

    @property
    def ran(self) -> bool:
        return self in RAN


FAILED = frozenset({Status.FAILED, Status.ERROR})
UNVERIFIED = frozenset({Status.NOT_JUDGED, Status.UNTESTED, Status.SKIPPED, Status.UNDEFINED,
                        Status.PENDING})
RAN = frozenset({Status.PASSED, Status.DEGRADED, Status.FAILED, Status.ERROR})


class Classification(StrEnum):
    """Why a failed scenario failed, that is who is at fault; NONE for a scenario that did not
    fail. Only the product's faults (PRODUCT, CONTRACT) fail a scenario and put revenue at risk;
    the others leave it not verified, with the cause named."""

    NONE = ""
    ENVIRONMENT = "environment"        # DNS, TLS, refused or reset connections, throttling
    PRODUCT = "product defect"         # the platform answered, and its behaviour is wrong
    CONTRACT = "contract mismatch"     # the platform answered outside its contract
    TEST = "test defect"               # the gate's own defect (an undefined step, our bug)
    CONFIGURATION = "configuration"    # the operator's settings: credentials, keys, URLs

    @property
    def product(self) -> bool:
        """The product's fault: a failure that counts toward revenue at risk."""
        return self in (Classification.PRODUCT, Classification.CONTRACT)


class Decision(StrEnum):
    """The verdict. NOT_JUDGED: a P1 scenario could not be judged for a cause that is not the
    product's (the environment, the configuration, the gate's own defect): like Argo Rollouts'
    Error, it is neither a pass nor a failure of the release, and never promotes it."""

    GO = "GO"
    AT_RISK = "AT RISK"
    NO_GO = "NO-GO"
    NOT_JUDGED = "COULD NOT JUDGE"


class Channel(StrEnum):
    HTTP = "http"
    WS = "ws"
    LOAD = "load"  # one row of a Locust run's statistics


class RecordState(StrEnum):
    """A run's state in the history database."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


class Finding(StrEnum):
    """What the root-cause probes found; the remediation catalog is keyed on these and on
    Classification values."""

    SCHEMA_MISSING_TABLES = "schema:missing-tables"
    SCHEMA_BEHIND_HEAD = "schema:behind-head"
    HEALTH_DOWN = "health:down"
    DATABASE_DOWN = "database:down"                  # the backend reports its database down
    DATABASE_SESSIONS = "database:sessions-failing"  # 5xx on database routes, schema complete


class ExitCode(IntEnum):
    """The gate's exit status: the verdict, for pipelines (documented in the README)."""

    GO = 0
    NO_GO = 1
    NOT_JUDGED = 2    # bad settings or tags, or the report could not be written
    AT_RISK = 3
    INTERRUPTED = 130


class RunStatus(StrEnum):
    """A run of the gate service (`stagecheck serve`): waiting for its target, running, done."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


class TargetKind(StrEnum):
    """What the gate runs against: the embedded stand-in, or a deployed platform."""

    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class ReportFormat(StrEnum):
    """The report's formats, and the file each is written to in a run's folder."""

    MD = "md"
    HTML = "html"
    JSON = "json"

    @property
    def file_name(self) -> str:
        return {"md": "report.md", "html": "report.html", "json": "results.json"}[self.value]


class LoopEnd(StrEnum):
    """Why a deploy loop stopped."""

    GREEN = "green"
    MAX_RUNS = "max-runs"
    TIME_LIMIT = "time-limit"
    INTERRUPTED = "interrupted"
    NOT_JUDGED = "not-judged"  # the gate refused its settings or tags: no run could judge
    STOPPED = "stopped"
