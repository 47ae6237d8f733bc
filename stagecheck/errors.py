"""Every exception of the suite, each with a message a release manager can act on, under one
root. A failure of the target is an AssertionError too, so that behave counts it as a failed
step (not an error of ours); a bad setting or file is a ValueError too.

StagecheckError
├── ConfigError (ValueError)            a setting is missing or malformed: exit 2, nothing runs
├── TargetError (AssertionError)        the target did not answer as a platform would (network)
│   ├── TargetUnreachable
│   │   └── NameNotResolved
│   ├── TargetTimeout
│   │   └── SlowAnswer
│   ├── TlsFailed
│   ├── ConnectionReset
│   ├── Throttled
│   ├── BodyTooLarge
│   └── Redirected
├── CheckFailed (AssertionError)        the target answered, but not as the contract promises
│   ├── SessionClosed
│   ├── NoAnswer
│   └── LoadRunFailed
├── NeedsBypassKey                      a fresh user needs the bypass key, only a token was set
├── HistoryError                        the history database cannot be opened or written
├── LoopError                           the deploy loop cannot run as asked
├── ShardError (ValueError)             shards' results that cannot be merged
├── ResultsFileError (ValueError)       a results.json this stagecheck cannot read
├── NestedTooDeeply (ValueError)        JSON from the target nested deeper than any the contract allows
└── ServiceRequestError (ValueError)    a request `stagecheck serve` cannot serve (its status)
"""

from __future__ import annotations

from .vocabulary import Classification


class StagecheckError(Exception):
    """The root of every exception the suite raises on purpose."""


class ConfigError(StagecheckError, ValueError):
    """A setting is missing or malformed; the run stops before its first scenario."""


class TargetError(StagecheckError, AssertionError):
    """The target did not answer as a working platform would (network level); by default the
    environment's fault (refused, unreachable), unless a subclass says the product's."""

    classification: Classification = Classification.ENVIRONMENT


class TargetUnreachable(TargetError):
    """The target refused or could not route the connection."""


class NameNotResolved(TargetUnreachable):
    """The target's host name does not resolve (or not within the connect timeout)."""


class TlsFailed(TargetError):
    """The TLS handshake failed: a certificate the machine does not trust, or no TLS at all."""


class ConnectionReset(TargetError):
    """The target (or something on the way) reset the connection."""


class Throttled(TargetError):
    """The target kept answering 429 (or 503 with Retry-After): its rate limit, not the
    product, stopped the check."""


class TargetTimeout(TargetError):
    """The target accepted the connection but did not answer in time: the platform was
    reached, and did not do its part (the product's fault, unlike a connection refused)."""

    classification = Classification.PRODUCT


class SlowAnswer(TargetTimeout):
    """The target kept sending, too slowly to finish the answer within the exchange's deadline."""


class BodyTooLarge(TargetError):
    """The target's answer was larger than the gate reads (a runaway or hostile body)."""

    classification = Classification.PRODUCT


class Redirected(TargetError):
    """The WebSocket handshake was answered with a redirect, which the gate does not follow."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"redirected ({status}) to {location}")
        self.status = status
        self.location = location


class CheckFailed(StagecheckError, AssertionError):
    """A check failed: the target answered, but not as the contract promises.

    `summary` says what broke in a few plain words (the report's key finding), and
    `classification` why, when the check knows it better than the report's heuristics."""

    def __init__(self, message: str, summary: str = "",
                 classification: Classification | None = None) -> None:
        super().__init__(message)
        self.summary = summary
        self.classification = classification


class SessionClosed(CheckFailed):
    """The target closed the live session while we waited for a frame or sent one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, classification=Classification.PRODUCT)


class NoAnswer(CheckFailed):
    """A live session stayed open, but the awaited frame never came: the target answered at
    the network level, so this is the product's failure, not the environment's."""

    def __init__(self, message: str, summary: str = "") -> None:
        super().__init__(message, summary, Classification.PRODUCT)


class LoadRunFailed(CheckFailed):
    """Locust is missing, failed to start, or did not finish by its deadline: the load could
    not be measured."""

    def __init__(self, message: str) -> None:
        super().__init__(message, message, Classification.TEST)


class NeedsBypassKey(StagecheckError):
    """Signing in a fresh user needs the bypass key, and only a token was configured."""


class HistoryError(StagecheckError):
    """The history database cannot be opened or written."""


class LoopError(StagecheckError):
    """The deploy loop cannot run as asked."""


class ShardError(StagecheckError, ValueError):
    """Shards' results that cannot be merged into one run."""


class ResultsFileError(StagecheckError, ValueError):
    """A results.json that this stagecheck cannot read."""


def tls_refusal(url: str, reason: str) -> str:
    """The message for a certificate that could not be verified."""
    return (f"the TLS certificate of {url} could not be verified ({reason}); "
            "-D insecure_tls=true skips the check")


class ServiceRequestError(StagecheckError, ValueError):
    """A request the gate service cannot serve; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NestedTooDeeply(StagecheckError, ValueError):
    """JSON text nested beyond its limit (client/nesting.py's MAX_JSON_DEPTH)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels")
        self.limit = limit
