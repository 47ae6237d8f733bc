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
