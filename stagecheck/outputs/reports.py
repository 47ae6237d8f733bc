"""Writing a run's reports: reports/<run-id>/ and reports/latest, each appearing whole or not at
all; a run's verdict alone when its report cannot be written; and pruning the oldest run
folders, only ever the gate's own."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..client.redact import redact_url
from ..report.model import RunResult
from ..report.render import render_all
from ..vocabulary import ReportFormat
from .console import say

RUN_FOLDER = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
VERDICT_FILE = "verdict.json"
# The files the gate writes in a run's folder: a folder holding anything else is not pruned.
GATE_FILES = frozenset({*(fmt.file_name for fmt in ReportFormat), VERDICT_FILE})
LATEST = "latest"


def report_paths(report_dir: str | Path, run_id: str) -> dict[str, Path]:
    """Where each report of a run is written: format -> path."""
    return {fmt.value: Path(report_dir) / run_id / fmt.file_name for fmt in ReportFormat}


def report_link(base_url: str, run_id: str) -> str:
    """Where a run's HTML report is published (`-D report_base_url=`), its credentials
    redacted: the link is shown and written; "" when not published."""
    return redact_url(f"{base_url.rstrip('/')}/{run_id}/report.html") if base_url else ""


def _place(root: Path, run_id: str, files: Mapping[str, str]) -> Path:
    """The files written into a temporary folder, then moved into place as root/run_id."""
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=root))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        final = root / run_id
        staging.chmod(0o755)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _point_latest(root: Path, name: str, what: str) -> bool:
    """`latest` pointed at root/name (a symlink swapped in one rename); a folder or a file at
    `latest` is not the gate's: it is left as it is, in one line. False when left."""
    latest = root / LATEST
    if latest.exists() and not latest.is_symlink():
        kind = "a folder" if latest.is_dir() else "a file"
        say(f"stagecheck: {latest} is {kind}, not the gate's link, so it was left as it is and "
            f"does not show this run: its {what} is in {root / name}/")
        return False
    link = root / f".{LATEST}.{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(name, target_is_directory=True)
    try:
        os.replace(link, latest)  # never replaces a folder that appeared meanwhile
    except OSError:
        link.unlink(missing_ok=True)
        raise
    return True


CATALOG = "catalog.html"  # where `stagecheck catalog` writes, beside the run folders


def write_reports(result: RunResult, report_dir: str | Path,
                  extra: Mapping[str, str] | None = None, catalog_url: str = "") -> Path:
    """Render every format (and any `extra` files, name -> text) into a temporary folder, then
    move it into place and point `latest` at it (a symlink swapped in one rename). report.html
    links each scenario to the catalog at `catalog_url`, or else to the one beside the run
    folders when there is one (never to a page that is not there)."""
    root = Path(report_dir)
    root.mkdir(parents=True, exist_ok=True)
    catalog_url = catalog_url or (f"../{CATALOG}" if (root / CATALOG).is_file() else "")
    rendered = {fmt.file_name: text for fmt, text in render_all(result, catalog_url).items()
                }  # fail before the disk
    rendered.update(extra or {})
    final = _place(root, result.facts.run_id, rendered)
    _point_latest(root, final.name, "report")
    return final


def write_verdict_alone(report_dir: str | Path, run_id: str, verdict: str) -> None:
    """For a run whose report could not be written: its folder holding only `verdict` (its
    verdict.json), and `latest` pointed at it; when even that fails, `latest` removed, so that
    it never describes an older run than the last verdict line."""
    root = Path(report_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _point_latest(root, _place(root, run_id, {VERDICT_FILE: verdict}).name, "verdict")
    except OSError as exc:
        latest = root / LATEST
        if not latest.is_symlink():
            return
        why = exc.strerror or str(exc)
        try:
            latest.unlink()
        except OSError as also:
            say(f"stagecheck: {latest} still shows an older run: this run's verdict could not "
                f"be written ({why}) and the link could not be removed ({also.strerror})")
            return
        say(f"stagecheck: {latest} was removed, as it showed an older run and this run's "
            f"verdict could not be written there: {why}")


def _made_by_gate(folder: Path) -> bool:
    """A run folder holding only files the gate writes (no folders, no links, nothing else)."""
    try:
        return all(entry.name in GATE_FILES and entry.is_file(follow_symlinks=False)
                   for entry in os.scandir(folder))
    except OSError:
        return False


def _remove(folder: Path) -> None:
    for name in GATE_FILES:
        (folder / name).unlink(missing_ok=True)
    folder.rmdir()  # fails, and leaves it, if anything else appeared meanwhile


def prune_runs(report_dir: str | Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` run folders (never the one `latest` points at, never a
    folder holding anything the gate did not write); the ids of those removed. keep=0 keeps
    everything."""
    root = Path(report_dir)
    if keep <= 0 or not root.is_dir():
        return []
    latest = root / LATEST
    protected = os.readlink(latest) if latest.is_symlink() else ""
    runs = sorted((p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                   and RUN_FOLDER.match(p.name)), reverse=True)
    old = [name for name in runs[keep:] if name != protected]
    foreign = [name for name in old if not _made_by_gate(root / name)]
    if foreign:
        say(f"stagecheck: not pruned, as they hold files the gate did not write: "
            f"{', '.join(str(root / name) for name in foreign[:3])}"
            f"{f' and {len(foreign) - 3} more' if len(foreign) > 3 else ''}")
    removed = []
    for name in old:
        if name not in foreign:
            try:
                _remove(root / name)
                removed.append(name)
            except OSError:
                continue
    return removed
