"""The service's behave children: each in a process group of its own (so that a signal reaches
the run and whatever it started), killed by the kernel when the service dies (even by
`kill -9`: they never run on as orphans writing to the history later), and stopped by SIGINT
first (behave writes its report, marked interrupted), then killed after a grace period."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping

from ..lifetime import die_with


async def start_child(command: list[str], console: int, environ: Mapping[str, str]
                      ) -> asyncio.subprocess.Process:
    """The child, in a process group of its own, dying with the service."""
    return await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
        env=dict(environ), process_group=0, preexec_fn=die_with(os.getpid()))


def _signal_group(child: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it ended in between
            os.killpg(child.pid, sig)


async def stop_child(child: asyncio.subprocess.Process, grace: float) -> int:
    """SIGINT to the child's group (behave writes its report, marked interrupted), then SIGKILL
    to the group after `grace` seconds; the child's exit status."""
    _signal_group(child, signal.SIGINT)
    try:
        return await asyncio.wait_for(child.wait(), grace)
    except TimeoutError:
        _signal_group(child, signal.SIGKILL)
        return await child.wait()


def kill_child(child: asyncio.subprocess.Process) -> None:
    """SIGKILL to the child's group at once (the service is going and cannot wait)."""
    _signal_group(child, signal.SIGKILL)
