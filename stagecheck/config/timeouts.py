"""The waits that are not settings, in one table: each is the default of a keyword parameter
of the function that waits (as websockets' `connect(open_timeout=…, close_timeout=…)`), so a
caller or a test can pass another. The waits a release manager tunes are settings (`-D
http_timeout=…`, see `settings.DURATIONS`)."""

from __future__ import annotations

HEALTH_AFTER_INTERRUPT_S = 2.0  # the health probe after Ctrl-C: the user is waiting
VERSION_AT_START_S = 2.0        # the target's version, read as a run begins (unknown if slower)
SCHEMA_PROBE_CONNECT_S = 10.0   # each connection attempt of the schema probe
WS_CLOSE_S = 5.0                # websockets' closing handshake
PONG_AFTER_ERROR_S = 2.0        # the ping telling whether a refused session still answers
CHILD_STOP_S = 30.0             # a behave child, after SIGINT, writing its report
HISTORY_BUSY_S = 30.0           # another process holding the history database's lock
