"""behave's runner, checking the settings before anything else so that a bad setting ends the
run with one sentence and exit status 2 (behave itself only knows 0 and 1).

Selected in `[tool.behave] runner` of pyproject.toml: a behave runner plugin, not a runner of
our own; everything else is behave's.
"""

from __future__ import annotations

import sys

from behave.runner import Runner

from .errors import ConfigError
from .run.settings import load_settings

EXIT_BAD_SETTING = 2


class GateRunner(Runner):
    def run(self) -> bool:
        try:
            load_settings(self.config.userdata)
        except ConfigError as exc:
            print(f"stagecheck: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_BAD_SETTING) from None
        return super().run()
