"""Reports written whole: through a temporary file beside the target and a rename, with the
mode any other file the run writes gets (the umask's), not ``mkstemp``'s 0600."""
from __future__ import annotations

import os
import tempfile


def write_atomically(path: str, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it and a rename: a reader (or a
    second run writing the same path) never sees half a report."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".npdrop-report-")
    try:
        os.chmod(temporary, 0o666 & ~_umask())   # mkstemp's 0600 is for secrets: a report is read like the log
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask, read without setting it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
