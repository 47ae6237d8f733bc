"""JSON from the target, its nesting bounded: an answer nested deeper than any the contract
allows is refused before it is parsed, so that no parser, repr or report ever recurses on it."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import NestedTooDeeply

__all__ = ["MAX_JSON_DEPTH", "NestedTooDeeply", "load_json", "nested_deeper_than"]

MAX_JSON_DEPTH = 64  # the stand-in refuses its own inputs beyond this depth as well

_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def nested_deeper_than(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` deep (strings ignored).

    Without recursion: the brackets are kept, then the innermost pairs removed, one level a
    pass at C speed, `limit` times; a pair left over means a deeper nesting."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_A_BRACKET)
    for _ in range(limit):
        shorter = _INNERMOST.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return False  # nothing more to remove: no deeper pair (or not JSON at all)
        brackets = shorter
    return _INNERMOST.search(brackets) is not None


def load_json(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> Any:
    """json.loads, refusing nesting beyond `limit` with NestedTooDeeply (a ValueError, as a
    malformed body's JSONDecodeError is); brackets opened and never closed are refused too."""
    if nested_deeper_than(raw, limit):
        raise NestedTooDeeply(limit)
    try:
        return json.loads(raw)
    except RecursionError:  # raised by the C parser itself, before the stack is at risk
        raise NestedTooDeeply(limit) from None
