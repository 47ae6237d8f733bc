"""The platform under test: where it is, the credentials for it, and what we know of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .exchanges import url_secrets
from .settings import Settings

CROWD_MARGIN = 64  # connections beyond the largest crowd: sign-ins, probes


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

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials: the key, the token, and those the URLs carry."""
        from_urls = (s for url in (self.backend_url, self.auth_url, self.ws_url, self.database_url)
                     for s in url_secrets(url))
        return tuple(s for s in (self.bypass_key, self.token, self.signing_key, *from_urls) if s)


@contextmanager
def open_target(settings: Settings, crowd: int = 0) -> Iterator[Target]:
    """Staging as configured, or the embedded stand-in on an ephemeral loopback port, able to
    take `crowd` connections at once (its listen backlog)."""
    if settings.target != "local":
        yield Target(settings.target, settings.base_url, settings.auth_url, settings.ws_url,
                     settings.bypass_key, settings.token, settings.signing_key,
                     settings.database_url, migration_revisions=(settings.expected_revision,)
                     if settings.expected_revision else ())
        return
    from standin import start_standin  # the suite's only door into the stand-in

    variant = settings.standin_variant or "default"
    with start_standin(faults=settings.standin_faults, variant=variant,
                       backlog=crowd + CROWD_MARGIN) as standin:
        yield Target("local", standin.urls.backend_url, standin.urls.auth_url, standin.urls.ws_url,
                     standin.bypass_key, "", standin.signing_key,
                     settings.database_url or standin.database_url,
                     settings.standin_faults, settings.standin_variant,
                     standin.migration_revisions)
