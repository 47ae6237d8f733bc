"""Business language: the glossary of words a feature file should not use (glossary.toml)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

GLOSSARY = Path(__file__).with_name("glossary.toml")


@dataclass(frozen=True)
class Forbidden:
    pattern: re.Pattern[str]
    what: str


@dataclass(frozen=True)
class Jargon:
    """A word of a feature file that is not business language, and what it is."""

    words: str
    what: str


def load_glossary(path: Path = GLOSSARY) -> list[Forbidden]:
    with path.open("rb") as handle:
        entries = tomllib.load(handle).get("forbidden", [])
    return [Forbidden(re.compile(entry["pattern"]), entry["what"]) for entry in entries]


def jargon(text: str, glossary: list[Forbidden] | None = None) -> list[Jargon]:
    """Every forbidden word or pattern in `text`, in the order of the glossary."""
    glossary = load_glossary() if glossary is None else glossary
    return [Jargon(found.group(0), entry.what) for entry in glossary
            for found in entry.pattern.finditer(text)]
