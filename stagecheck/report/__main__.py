"""`python -m stagecheck.report PATH/results.json`: `stagecheck report`, on its own."""

from __future__ import annotations

import sys

from ..cli.report import main

if __name__ == "__main__":
    sys.exit(main())
