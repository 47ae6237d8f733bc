"""Opening the target: staging as configured, the embedded stand-in started for the run, or the
stand-in a parallel run started once for all its workers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from ..config.settings import Settings
from ..config.target import Target
from ..vocabulary import TargetKind

CROWD_MARGIN = 64  # connections beyond the largest crowd: sign-ins, probes
# The stand-in a parallel run started, for its workers (in their environment, never on a
# command line: it holds the stand-in's keys).
ATTACHED = "STAGECHECK_ATTACHED_STANDIN"


def attach_env(target: Target) -> dict[str, str]:
    """What a worker needs to use this stand-in rather than start its own; {} elsewhere."""
    if target.name != TargetKind.LOCAL:
        return {}
    return {ATTACHED: json.dumps(asdict(target))}


def _attached(raw: str) -> Target:
    fields = json.loads(raw)
    for name in ("standin_faults", "migration_revisions"):
        fields[name] = tuple(fields[name])
    return Target(**fields)


@contextmanager
def open_target(settings: Settings, crowd: int = 0) -> Iterator[Target]:
    """Staging as configured, or the embedded stand-in on an ephemeral loopback port, able to
    take `crowd` connections at once (its listen backlog)."""
    if settings.target != TargetKind.LOCAL:
        yield Target(settings.target, settings.base_url, settings.auth_url, settings.ws_url,
                     settings.bypass_key, settings.token, settings.signing_key,
                     settings.database_url, migration_revisions=(settings.expected_revision,)
                     if settings.expected_revision else (),
                     expected_version=settings.expected_version)
        return
    if ATTACHED in os.environ:  # a worker of a parallel run: the run's stand-in
        yield _attached(os.environ[ATTACHED])
        return
    from standin import start_standin  # the suite's only door into the stand-in

    variant = settings.standin_variant or "default"
    with start_standin(faults=settings.standin_faults, variant=variant,
                       backlog=crowd + CROWD_MARGIN) as standin:
        yield Target(TargetKind.LOCAL, standin.urls.backend_url, standin.urls.auth_url, standin.urls.ws_url,
                     standin.bypass_key, "", standin.signing_key,
                     settings.database_url or standin.database_url,
                     settings.standin_faults, settings.standin_variant,
                     standin.migration_revisions,
                     # the stand-in is the build under test: the version it was started with
                     expected_version=settings.expected_version or standin.state.version)
