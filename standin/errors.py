"""Errors the stand-in raises at start-up, each with one sentence a user can act on."""

from __future__ import annotations


class StandinError(Exception):
    """The stand-in cannot start as asked."""


class UnknownFaultError(StandinError, ValueError):
    """A fault name that the stand-in does not know."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown fault {name!r}; known faults: {', '.join(known)}")
        self.name = name


class DatabaseConfigError(StandinError, ValueError):
    """The database URL is malformed, names an unknown driver, or cannot be reached."""


class StartError(StandinError, OSError):
    """The server could not listen where it was asked to, or did not come up in time."""


class UnknownVariantError(StandinError, ValueError):
    """A variant name that the stand-in does not know."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown variant {name!r}; known variants: {', '.join(known)}")
        self.name = name


class IncompatibleFaultError(StandinError, ValueError):
    """A fault that cannot happen in the chosen variant of the platform."""

    def __init__(self, variant: str, fault: str, reason: str) -> None:
        super().__init__(f"fault {fault!r} cannot combine with variant {variant!r}: {reason}")
        self.variant = variant
        self.fault = fault
