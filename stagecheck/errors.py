"""Every exception of the suite, each with a message a release manager can act on."""

from __future__ import annotations

from .vocabulary import Classification


class ConfigError(ValueError):
    """A setting is missing or malformed; the run stops before its first scenario."""


class TargetError(AssertionError):
    """The target did not answer as a working platform would (network level)."""

    classification = Classification.ENVIRONMENT


class TargetUnreachable(TargetError):
    """The target refused or could not route the connection."""


class TargetTimeout(TargetError):
    """The target accepted the connection but did not answer in time."""


class SessionClosed(AssertionError):
    """The target closed the live session while we waited for a frame or sent one."""


class NeedsBypassKey(Exception):
    """Signing in a fresh user needs the bypass key, and only a token was configured."""


class HistoryError(Exception):
    """The history database cannot be opened or written."""


class LoopError(Exception):
    """The deploy loop cannot run as asked."""


class ResultsFileError(ValueError):
    """A results.json that this stagecheck cannot read."""


def tls_refusal(url: str, reason: str) -> str:
    """The message for a certificate that could not be verified."""
    return (f"the TLS certificate of {url} could not be verified ({reason}); "
            "-D insecure_tls=true skips the check")
