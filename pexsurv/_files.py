"""Crash-safe file replacement, the one way pexsurv writes a result file (saved fits, sweep
and operating-characteristics records)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["replace_atomically"]


def replace_atomically(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Write ``path`` through a temporary file beside it: ``write(tmp)`` fills it, it is
    flushed to disk and renamed over ``path``. A crash or ``kill -9`` at any moment leaves
    the old file or the new one, never a torn mixture; the temporary file is removed when
    ``write`` raises.

    The new file gets the mode of the file it replaces, or the one a plain ``open`` would
    give (``mkstemp`` alone would make it private).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> replace_atomically(p, lambda tmp: tmp.write_text("done")).read_text()
    'done'
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where supported
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
