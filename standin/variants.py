"""Variants: the named sets of shapes the platform has had, as one table the code reads.

Every field's default is the platform at commit `cc536e0b5` (2025-09-08); a variant overrides
only the shapes that differed in its era.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import IncompatibleFaultError, UnknownVariantError
from .faults import check_fault_names


class Refusal(StrEnum):
    """How a WebSocket session without a valid token is refused."""

    ACCEPT_ERROR_CLOSE = "accept, error frame, close"
    HANDSHAKE_403 = "HTTP 403 before accept"


class Welcome(StrEnum):
    """The type of the first application frame after accept."""

    SYSTEM_MESSAGE = "system_message"
    CONNECTION_ESTABLISHED = "connection_established"


class KeepAlive(StrEnum):
    """The frame the server sends on its own to keep a session alive."""

    PING = "ping"
    HEARTBEAT = "heartbeat"


class Ack(StrEnum):
    """How a user message is acknowledged."""

    SYSTEM_MESSAGE = "system_message"
    GENERIC = "ack"


class HealthBody(StrEnum):
    """What GET /health answers when up."""

    FULL = "full"
    OK_ONLY = "ok"


@dataclass(frozen=True)
class Variant:
    """One shape of the platform: each field is a shape the stand-in's handlers read."""

    name: str
    description: str
    era: str
    refusal: Refusal = Refusal.ACCEPT_ERROR_CLOSE
    refusal_close_code: int = 1008
    handshake_validation: bool = True
    welcome: Welcome = Welcome.SYSTEM_MESSAGE
    keepalive: KeepAlive = KeepAlive.PING
    raw_jwt_subprotocol: bool = False
    format_error_key: str = "error_code"
    format_error_code: str = "FORMAT_ERROR"
    user_message_ack: Ack = Ack.SYSTEM_MESSAGE
    discovery_key: str = "data"
    thread_created_status: int = 200
    health_body: HealthBody = HealthBody.FULL
    # (fault, why it cannot happen here) pairs: a tuple keeps the record hashable
    incompatible_faults: tuple[tuple[str, str], ...] = ()

    def incompatibility(self, fault: str) -> str | None:
        """Why this fault cannot happen in this variant, or None when it can."""
        return dict(self.incompatible_faults).get(fault)


DEFAULT_VARIANT = "default"

VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant(DEFAULT_VARIANT,
                "the platform at cc536e0b5: accept, error frame, close 1008; system_message "
                "welcome and acknowledgements; server ping every 30 s",
                era="commit cc536e0b5, 2025-09-08"),
        Variant("handshake-403",
                "refusal by HTTP 403 before accept; discovery {\"servers\": [...]}; "
                "thread created 201; generic ack for user messages",
                era="before 2025-09-07 18:18 (the seed report's era)",
                refusal=Refusal.HANDSHAKE_403, handshake_validation=False,
                user_message_ack=Ack.GENERIC, discovery_key="servers",
                thread_created_status=201,
                incompatible_faults=(
                    ("refusal-without-close",
                     "this variant refuses before accept, so no error frame is ever sent"),)),
        Variant("close-1011",
                "refusal by accept, error frame, close 1011 instead of 1008",
                era="about 2025-09-08 to 2025-09-10", refusal_close_code=1011),
        Variant("beta-17",
                "connection_established welcome; heartbeat keep-alive frames; GET /health "
                "{\"status\": \"ok\"}; raw jwt.<token> subprotocol accepted; invalid JSON "
                "answered with code JSON_PARSE_ERROR",
                era="tag beta-17, 2025-09-18",
                welcome=Welcome.CONNECTION_ESTABLISHED, keepalive=KeepAlive.HEARTBEAT,
                raw_jwt_subprotocol=True, format_error_key="code",
                format_error_code="JSON_PARSE_ERROR", health_body=HealthBody.OK_ONLY),
    )
}


def get_variant(name: str) -> Variant:
    """The variant of that name, or UnknownVariantError listing the known ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariantError(name, list(VARIANTS)) from None


def check_combination(variant: str, faults: Iterable[str]) -> None:
    """Raise UnknownVariantError, UnknownFaultError or IncompatibleFaultError if the stand-in
    cannot play these faults in this variant; return None when it can."""
    chosen = get_variant(variant)
    for fault in sorted(check_fault_names(faults)):
        reason = chosen.incompatibility(fault)
        if reason is not None:
            raise IncompatibleFaultError(variant, fault, reason)
