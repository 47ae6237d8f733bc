"""The service's runs on disk, so that none is forgotten by a restart: each run's folder
`runs/<id>/` holds `run.json` (what was asked, and what the service said of it) beside the
gate's own reports; retention counts every folder there, from before a restart too."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

RECORD = "run.json"
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")  # the service's own ids: a folder name, nothing else


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """`run.json`, whole or not at all (written aside, then renamed); an OSError says why not."""
    folder.mkdir(parents=True, exist_ok=True)
    aside = folder / f".{RECORD}.tmp"
    aside.write_text(json.dumps(record, indent=1))
    os.replace(aside, folder / RECORD)


def read_record(runs: Path, run_id: str) -> dict[str, Any] | None:
    """The record of run `run_id` (None when there is none, or `run_id` is not one of ours)."""
    if not RUN_ID.fullmatch(run_id):
        return None
    try:
        record = json.loads((runs / run_id / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("id") == run_id else None


def old_folders(runs: Path, keep: int, held: Collection[str]) -> list[str]:
    """The finished runs' folders beyond the newest `keep` (ids sort by time; `held` runs are
    not finished and stay); none when keep=0, which keeps every folder."""
    if keep <= 0:
        return []
    try:
        names = sorted(p.name for p in runs.iterdir()
                       if RUN_ID.fullmatch(p.name) and p.name not in held and p.is_dir())
    except OSError:
        return []
    return names[:max(len(names) - keep, 0)]


def remove_folders(runs: Path, names: Collection[str]) -> None:
    """Delete these runs' folders (what cannot be deleted stays)."""
    for name in names:
        shutil.rmtree(runs / name, ignore_errors=True)
