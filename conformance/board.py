"""Which call into the implementation is in progress, kept in a page of memory both processes map.

The worker names each call before making it, so that a call that never returns (a loop in
C holding the GIL included) is named as the user's. Sent over the pipe, that name woke the
judge once per call for a message it needs only when the call fails; written here, it costs
a copy of a few bytes, and the judge reads it only when it has to name a call: past the
deadline, or once the process has ended, when nothing writes any more.

The page is a Linux ``memfd`` the worker inherits. Where there is none, or where the worker
cannot confirm that the descriptor it was given is the judge's page (a ``--worker-prefix``
such as ``sudo`` closes inherited descriptors, and the number may then name another file),
the worker names its calls over the pipe as before; the judge understands both.

Layout: a 16-byte mark the judge chose, then a 4-byte little-endian length and the name in
UTF-8. The judge clears the length before each request; the worker sets the length to 0,
writes the name, then sets its length, so a name cut short by a kill reads as none (and the
judge falls back to its own description of the request).
"""
from __future__ import annotations

import mmap
import os
import secrets
import struct
from typing import Optional

SIZE = 4096
_MARK, _LENGTH = 16, 4
_TEXT = _MARK + _LENGTH
#: bytes of a name kept (the judge shows 500 characters of it)
LIMIT = SIZE - _TEXT


class Board:
    """The judge's side: creates the page, clears it, reads it."""

    def __init__(self):
        self.fd = os.memfd_create("npdrop-calling")   # close-on-exec: only the worker gets it (pass_fds)
        try:
            os.ftruncate(self.fd, SIZE)
            self.page = mmap.mmap(self.fd, SIZE)
        except OSError:
            os.close(self.fd)
            raise
        self.mark = secrets.token_hex(_MARK // 2)
        self.page[:_MARK] = self.mark.encode()

    def argument(self) -> str:
        """What the worker is told on its command line: the descriptor and the mark."""
        return f"{self.fd}:{self.mark}"

    def handed_over(self) -> None:
        """The worker has its descriptor: the judge keeps only the mapping."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def clear(self) -> None:
        self.page[_MARK:_TEXT] = b"\0" * _LENGTH

    def read(self) -> str:
        """The name last written and not cleared since, or ''."""
        (length,) = struct.unpack_from("<I", self.page, _MARK)
        if not 0 < length <= LIMIT:
            return ""
        return bytes(self.page[_TEXT:_TEXT + length]).decode(errors="replace")

    def close(self) -> None:
        self.handed_over()
        self.page.close()


def opened() -> Optional["Board"]:
    """A board for a new worker, or None where the system has no ``memfd``."""
    if not hasattr(os, "memfd_create"):
        return None
    try:
        return Board()
    except OSError:
        return None


class Writer:
    """The worker's side: names calls on the page."""

    def __init__(self, page: mmap.mmap):
        self.page = page

    def __call__(self, what: str) -> None:
        data = what.encode(errors="replace")[:LIMIT]
        self.page[_MARK:_TEXT] = b"\0" * _LENGTH
        self.page[_TEXT:_TEXT + len(data)] = data
        self.page[_MARK:_TEXT] = struct.pack("<I", len(data))


def writer(argument: Optional[str]) -> Optional[Writer]:
    """The page named by ``argument`` (``FD:MARK``), if it is there and carries the mark;
    None otherwise (the calls are then named over the pipe)."""
    if not argument:
        return None
    try:
        number, mark = argument.split(":", 1)
        fd = int(number)
        if os.fstat(fd).st_size != SIZE or not os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:npdrop-calling"):
            return None
        page = mmap.mmap(fd, SIZE)
        os.close(fd)   # the mapping stays; the implementation cannot find the page by its descriptor
    except (ValueError, OSError):
        return None
    if bytes(page[:_MARK]) != mark.encode():
        page.close()
        return None
    return Writer(page)
