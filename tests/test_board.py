"""conformance.board: the page on which the implementation's process names the call it is in."""
import os

import pytest

from conformance import board

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd on this system")


def test_a_name_written_by_the_worker_is_read_by_the_judge_until_cleared():
    page = board.opened()
    try:
        number, mark = page.argument().split(":")
        named = board.writer(f"{os.dup(int(number))}:{mark}")   # the worker's own copy, which it closes
        assert named is not None
        assert page.read() == ""
        named("forward(x, training=True)")
        assert page.read() == "forward(x, training=True)"
        named("backward(g)")                 # a shorter name replaces a longer one whole
        assert page.read() == "backward(g)"
        page.clear()
        assert page.read() == "", "the judge clears the page before each request"
        named("x" * 10_000)
        assert page.read() == "x" * board.LIMIT, "a long name is cut to the page"
    finally:
        page.close()


@pytest.mark.parametrize("how", ["no descriptor", "not a number", "closed", "wrong mark", "another file"])
def test_a_page_that_is_not_the_judges_is_not_used(tmp_path, how):
    """The worker then names its calls over the pipe (a prefix such as sudo closes inherited
    descriptors, and their numbers may name other files)."""
    page = board.opened()
    other = tmp_path / "file"
    other.write_bytes(b"\0" * board.SIZE)
    fd = os.open(other, os.O_RDWR)
    try:
        number, mark = page.argument().split(":")
        closed = os.dup(fd)
        os.close(closed)
        argument = {"no descriptor": lambda: None, "not a number": lambda: f"x:{mark}",
                    "closed": lambda: f"{closed}:{mark}", "another file": lambda: f"{fd}:{mark}",
                    "wrong mark": lambda: f"{os.dup(int(number))}:{'0' * len(mark)}"}[how]()
        assert board.writer(argument) is None
    finally:
        os.close(fd)
        page.close()
