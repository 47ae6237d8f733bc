"""A run's report files as the service serves them: read only from inside the run's own folder,
never through a symlink that leads out of it or stands in for a file, and bounded in size."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..errors import ServiceRequestError

LATEST = "latest"  # the gate's own link to the run's report folder, inside the run's folder
MAX_REPORT = 64 * 2 ** 20


def read_report(folder: Path, name: str) -> bytes | None:
    """The bytes of `folder/latest/name`, or None when there is no such file; a path that
    leaves the folder, or a file that is a symlink, is ServiceRequestError 404."""
    path = folder / LATEST / name
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    if not real.is_file():
        return None
    if not real.is_relative_to(folder.resolve()) or path.is_symlink():
        raise ServiceRequestError(404, f"{name} of this run is a link, and links are not served")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since resolved
            raise ServiceRequestError(404, f"{name} of this run is a link, and links are not "
                                      "served") from None
        raise
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_REPORT + 1)
    if len(data) > MAX_REPORT:
        raise ServiceRequestError(404, f"{name} of this run is larger than "
                                  f"{MAX_REPORT // 2 ** 20} MiB and is not served")
    return data
