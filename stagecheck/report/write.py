"""Writing a run's reports: reports/<run-id>/ and reports/latest, each appearing whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .model import RunResult
from .render import FORMATS, render

FILES = {"md": "report.md", "html": "report.html", "json": "results.json"}


def write_reports(result: RunResult, report_dir: str | Path) -> Path:
    """Render every format into a temporary folder, then move it into place and point
    `latest` at it (a symlink swapped in one rename)."""
    root = Path(report_dir)
    root.mkdir(parents=True, exist_ok=True)
    rendered = {fmt: render(result, fmt) for fmt in FORMATS}  # fail before touching the disk
    staging = Path(tempfile.mkdtemp(prefix=f".{result.facts.run_id}.", dir=root))
    try:
        for fmt, text in rendered.items():
            (staging / FILES[fmt]).write_text(text, encoding="utf-8")
        final = root / result.facts.run_id
        staging.chmod(0o755)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = root / f".latest.{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(final.name, target_is_directory=True)
    latest = root / "latest"
    if latest.is_dir() and not latest.is_symlink():
        shutil.rmtree(latest)  # a folder left by something else: replace it with the link
    os.replace(link, latest)
    return final
