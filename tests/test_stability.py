"""A run leaves nothing behind: no thread, no socket, no pending asyncio task."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings
from pathlib import Path

import pytest

from tests.behave_run import ROOT


def _sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to count sockets")
def test_a_p1_run_leaves_no_thread_socket_or_task_behind(tmp_path: Path, monkeypatch) -> None:
    from behave.__main__ import main as behave_main

    monkeypatch.chdir(ROOT)
    gc.collect()  # what earlier tests in this process left for the collector is not this run's
    threads_before = set(threading.enumerate())
    sockets_before = _sockets()
    with warnings.catch_warnings(record=True) as caught:
        # A socket or transport nobody closed is only reclaimed by the garbage collector,
        # which says so with a ResourceWarning: that is a leak even if the count is back.
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(SystemExit) as ended:  # the gate's runner exits with the verdict
            behave_main(["--tags=@p1", "-f", "null", "--no-capture",
                         "-D", f"report_dir={tmp_path}"])
        gc.collect()
    assert ended.value.code == 0
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    left = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    for thread in left:  # a thread that is finishing may still be alive for a moment
        thread.join(timeout=5)
    assert [t.name for t in left if t.is_alive()] == []
    assert _sockets() - sockets_before == set()
    pending = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    assert pending == []
    assert (tmp_path / "latest" / "results.json").exists()
