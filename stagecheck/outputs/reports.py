"""Writing a run's reports: reports/<run-id>/ and reports/latest, each appearing whole or not at
all; and pruning the oldest run folders."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..report.model import RunResult
from ..report.render import render
from ..vocabulary import ReportFormat

RUN_FOLDER = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def report_paths(report_dir: str | Path, run_id: str) -> dict[str, Path]:
    """Where each report of a run is written: format -> path."""
    return {fmt.value: Path(report_dir) / run_id / fmt.file_name for fmt in ReportFormat}


def report_link(base_url: str, run_id: str) -> str:
    """Where a run's HTML report is published (`-D report_base_url=`); "" when not published."""
    return f"{base_url.rstrip('/')}/{run_id}/report.html" if base_url else ""


def write_reports(result: RunResult, report_dir: str | Path,
                  extra: Mapping[str, str] | None = None) -> Path:
    """Render every format (and any `extra` files, name -> text) into a temporary folder, then
    move it into place and point `latest` at it (a symlink swapped in one rename)."""
    root = Path(report_dir)
    root.mkdir(parents=True, exist_ok=True)
    rendered = {fmt.file_name: render(result, fmt) for fmt in ReportFormat}  # fail before the disk
    rendered.update(extra or {})
    staging = Path(tempfile.mkdtemp(prefix=f".{result.facts.run_id}.", dir=root))
    try:
        for name, text in rendered.items():
            (staging / name).write_text(text, encoding="utf-8")
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


def prune_runs(report_dir: str | Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` run folders (never the one `latest` points at); the ids
    of those removed. keep=0 keeps everything."""
    root = Path(report_dir)
    if keep <= 0 or not root.is_dir():
        return []
    latest = root / "latest"
    protected = os.readlink(latest) if latest.is_symlink() else ""
    runs = sorted((p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                   and RUN_FOLDER.match(p.name)), reverse=True)
    removed = [name for name in runs[keep:] if name != protected]
    for name in removed:
        shutil.rmtree(root / name, ignore_errors=True)
    return removed
