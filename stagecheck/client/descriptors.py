"""File descriptors: the soft limit raised to the hard one at the start of a run (many live
sessions need one each, twice with the stand-in in the same process), and running out of them
told apart from the target failing."""

from __future__ import annotations

import contextlib
import errno

try:
    import resource
except ImportError:  # not on this platform: the limits stay as they are
    resource = None  # type: ignore[assignment]

UNLIMITED_STANDS_FOR = 1 << 20  # what an unlimited hard limit is raised to
OUT_OF_DESCRIPTORS = "ran out of file descriptors"


def descriptor_limit() -> int | None:
    """The soft limit on open file descriptors, None where unknown."""
    if resource is None:
        return None
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_descriptor_limit() -> int | None:
    """Raise the soft limit to the hard one when it is lower; the soft limit in force after."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_STANDS_FOR if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # capped lower: running out says so
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def out_of_descriptors(exc: BaseException | None) -> bool:
    """Whether this exception, or one it was raised from or while handling, is the process
    running out of file descriptors."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def out_of_descriptors_problem() -> str:
    limit = descriptor_limit()
    return (f"the release gate {OUT_OF_DESCRIPTORS} (limit "
            f"{limit if limit is not None else 'unknown'}): raise it with `ulimit -n` "
            "(each live session needs one, two when the stand-in runs in the same process)")
