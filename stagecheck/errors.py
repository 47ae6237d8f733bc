"""The suite's exceptions, each with a message a release manager can act on."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; the run stops before its first scenario."""


class TargetError(AssertionError):
    """The target did not answer as a working platform would (network level)."""

    classification = "environment"


class TargetUnreachable(TargetError):
    """The target refused or could not route the connection."""


class TargetTimeout(TargetError):
    """The target accepted the connection but did not answer in time."""


def tls_refusal(url: str, reason: str) -> str:
    return (f"the TLS certificate of {url} could not be verified ({reason}); "
            "-D insecure_tls=true skips the check")
