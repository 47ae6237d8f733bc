"""The platform under test: where it is, the credentials for it, and what we know of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..client.redact import url_secrets


@dataclass(frozen=True)
class Target:
    name: str
    backend_url: str
    auth_url: str
    ws_url: str
    bypass_key: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    signing_key: str = field(default="", repr=False)  # the platform's token key, when known
    database_url: str = field(default="", repr=False)
    standin_faults: tuple[str, ...] = ()
    standin_variant: str = ""
    migration_revisions: tuple[str, ...] = ()  # base to head, when known
    expected_version: str = ""  # the build being released; "" when nobody said
    started_version: str = ""  # the build it was started with, when the gate started it

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials: the key, the token, and those the URLs carry."""
        from_urls = (s for url in (self.backend_url, self.auth_url, self.ws_url, self.database_url)
                     for s in url_secrets(url))
        return tuple(s for s in (self.bypass_key, self.token, self.signing_key, *from_urls) if s)
