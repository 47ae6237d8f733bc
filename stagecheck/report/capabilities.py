"""Capabilities in plain words: each feature's entry in capabilities.toml, kept in the result."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .model import Capability

TABLE = Path(__file__).with_name("capabilities.toml")


def load_table(path: Path = TABLE) -> dict[str, dict[str, Any]]:
    """The table's entries by feature name."""
    with path.open("rb") as handle:
        entries: list[dict[str, Any]] = tomllib.load(handle).get("capability", [])
    return {entry["feature"]: entry for entry in entries}


def capabilities(features: Iterable[tuple[str, str, str]],
                 table: dict[str, dict[str, Any]] | None = None) -> list[Capability]:
    """One Capability per (name, area, description), first seen first, words from the table."""
    table = load_table() if table is None else table
    found: dict[str, Capability] = {}
    for name, area, description in features:
        if name in found:
            continue
        entry = table.get(name, {})
        found[name] = Capability(name, area, description, entry.get("who", "users"),
                                 entry.get("can", ""), entry.get("cannot", ""))
    return list(found.values())
