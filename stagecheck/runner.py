"""behave's runner, checking the settings before anything else so that a bad setting ends the
run with one sentence and exit status 2 (behave itself only knows 0 and 1).

Selected in `[tool.behave] runner` of pyproject.toml: a behave runner plugin, not a runner of
our own; everything else is behave's.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from behave.runner import Runner

from .errors import ConfigError
from .run.settings import load_settings

EXIT_BAD_SETTING = 2


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the report
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def terminate_like_interrupt() -> None:
    """SIGTERM (how CI cancels a job) ends the run as Ctrl-C does: the fixtures unwind (the
    stand-in and its temporary folder go away) and the report is written, marked interrupted."""
    signal.signal(signal.SIGTERM, _as_interrupt)


class GateRunner(Runner):
    def run(self) -> bool:
        try:
            load_settings(self.config.userdata)
        except ConfigError as exc:
            print(f"stagecheck: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_BAD_SETTING) from None
        terminate_like_interrupt()
        return super().run()
