"""Processes that stop when asked and never outlive their parent: Ctrl-C interrupts them even
when they were started with SIGINT ignored, and the kernel sends them SIGKILL when their parent
ends, even by `kill -9` (Linux's PR_SET_PDEATHSIG), so that no run, worker or load generator
goes on as an orphan, writing to the history or loading the target."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # no C library to ask: a process group still lets the parent stop its children
    _LIBC = None


def interruptible() -> None:
    """Ctrl-C (SIGINT) interrupts this process even when it was started with SIGINT ignored, as
    a background job of a script is: the gate promises an interrupted run its report, and the
    service and a parallel run stop their children with SIGINT."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def die_with(parent: int) -> Callable[[], None]:
    """A `preexec_fn` (run in the child between fork and exec): ask the kernel for SIGKILL when
    `parent`'s thread ends, and end now if the parent is already gone (the request came late)."""
    prctl = getattr(_LIBC, "prctl", None)

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # not ignored, whatever the parent inherited
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec
