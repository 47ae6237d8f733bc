"""How counts and durations read in findings and reports: real plurals, and no "0.00 s"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str = "") -> str:
    """`1 scenario`, `2 scenarios`; `nouns` for a plural that is not noun + "s"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def duration(seconds: float) -> str:
    """`under 1 ms`, `42 ms`, `1.25 s`, `12.3 s`: a quick answer never reads as an instant 0.00 s."""
    if seconds < 0.001:
        return "under 1 ms"
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
