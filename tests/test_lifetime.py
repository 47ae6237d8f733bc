"""Children that die with their parent: a parent killed outright (kill -9) takes its children
along (the service's runs, a parallel run's workers, the load tier's Locust processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stagecheck.lifetime import die_with

PARENT = """
import subprocess, sys, time
from stagecheck.lifetime import die_with
import os
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         preexec_fn=die_with(os.getpid()) if sys.argv[1] == "yes" else None)
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"  # a zombie has ended; its parent (init) reaps it in its own time


def _orphan_after_kill_9(die_with: str, wait_s: float) -> bool:
    """Whether the child still runs `wait_s` after its parent was killed outright."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, die_with], stdout=subprocess.PIPE,
                              text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + wait_s
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    return alive


def test_a_child_dies_with_its_parent_killed_outright() -> None:
    assert not _orphan_after_kill_9("yes", wait_s=10)


def test_without_it_the_child_lives_on_as_an_orphan() -> None:  # the control: the test can fail
    assert _orphan_after_kill_9("no", wait_s=1)


WAITER = """
import sys, time
from stagecheck.lifetime import interruptible
if sys.argv[1] == "yes":
    interruptible()
print("ready", flush=True)
time.sleep(60)
"""


def _after_sigint(command: list[str], preexec) -> int | None:
    """The exit status of `command` started with SIGINT ignored (as a background job of a
    script is), one second after a SIGINT; None when it still runs."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, preexec_fn=preexec)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(1)
        except subprocess.TimeoutExpired:
            return None
    finally:
        proc.kill()
        proc.wait()


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_interrupts_even_when_the_run_was_started_with_it_ignored() -> None:
    assert _after_sigint([sys.executable, "-c", WAITER, "yes"], _ignoring_sigint) == -signal.SIGINT
    assert _after_sigint([sys.executable, "-c", WAITER, "no"], _ignoring_sigint) is None  # control


def test_a_child_started_to_die_with_its_parent_also_hears_ctrl_c() -> None:
    def ignored_then_reset() -> None:  # what a parent that inherited SIG_IGN passes on, then ours
        _ignoring_sigint()
        die_with(os.getppid())()
    assert _after_sigint([sys.executable, "-c", WAITER, "no"], ignored_then_reset) == -signal.SIGINT
