"""The one screen fitted to the terminal it is printed on, so that the rows left in view when
the run ends are the answer: the verdict and the first likely cause with its ``try:``.

:meth:`conformance.report.Matrix.screen` already puts them last. On a terminal (or where
``COLUMNS`` is set) each line is wrapped to its width, continuation rows indented under
the line's text; a failed property's line, the longest, is cut to two rows (its whole text
is in the log and the reports); and where the likely causes after the first would push the
verdict out of view, they are cut to one row each. Printed to a pipe or a file, with no
``COLUMNS``, the screen is left as it is: whole lines, for a log or a search.
"""
from __future__ import annotations

import os
import shutil
import sys
import textwrap
from typing import Optional

#: the rows a failed property's line may take on the screen
PROPERTY_ROWS = 2
#: what stands for the part of a line cut off to fit
CUT = " ..."


def size(stream=None) -> Optional[tuple]:
    """``(columns, rows)`` of the terminal ``stream`` (default stdout) goes to; ``None`` for a
    pipe or a file when ``COLUMNS`` is not set."""
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", lambda: False)
    if not os.environ.get("COLUMNS") and not isatty():
        return None
    columns, rows = shutil.get_terminal_size()
    return max(columns, 40), max(rows, 10)


def fit(lines: list, columns: int, rows: int) -> list:
    """``lines`` as rows of at most ``columns`` characters, the answer in the last ``rows``."""
    blocks = _blocks(lines)
    out = [row for kind, block in blocks for row in _render(kind, block, columns)]
    verdict = next((i for i, (kind, _) in enumerate(blocks) if kind == "verdict"), None)
    if verdict is None:
        return out
    answer = [row for kind, block in blocks[verdict:] for row in _render(kind, block, columns)]
    if len(answer) <= rows - 1:   # the last row is the shell's prompt
        return out
    # the causes after the first, one row each: the verdict and the first cause stay in view
    head = [row for kind, block in blocks[:verdict] for row in _render(kind, block, columns)]
    tail, causes = [], 0
    for kind, block in blocks[verdict:]:
        causes += kind == "cause"
        tail += [_cut(block[0], columns)] if kind == "cause" and causes > 1 else _render(kind, block, columns)
    return head + tail


def _blocks(lines: list) -> list:
    """``(kind, lines)``: a cause with its indented evidence and ``try:``, a failed property,
    the verdict, or any other line."""
    blocks, in_properties = [], False
    for line in lines:
        if line.startswith("likely cause:"):
            blocks.append(("cause", [line]))
            in_properties = False
        elif line.startswith("  ") and blocks and blocks[-1][0] == "cause":
            blocks[-1][1].append(line)
        elif line.startswith("failed properties"):
            blocks.append(("line", [line]))
            in_properties = True
        elif in_properties and line.startswith("  "):
            blocks.append(("property", [line]))
        else:
            in_properties = False
            blocks.append(("verdict" if line.startswith("verdict:") else "line", [line]))
    return blocks


def _render(kind: str, block: list, columns: int) -> list:
    rows = [row for line in block for row in _wrap(line, columns)]
    if kind == "property" and len(rows) > PROPERTY_ROWS:
        rows = rows[:PROPERTY_ROWS]
        rows[-1] = _cut(rows[-1], columns, always=True)
    return rows


#: lines that end in a command: the command gets a row of its own, never broken (to copy whole)
COMMAND_AFTER = "rerun one case with its traceback: "


def _wrap(line: str, columns: int) -> list:
    if len(line) <= columns:
        return [line]
    if line.startswith(COMMAND_AFTER):
        return [COMMAND_AFTER.rstrip(), "  " + line[len(COMMAND_AFTER):]]
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    return textwrap.wrap(line, columns, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False) or [line]


def _cut(line: str, columns: int, always: bool = False) -> str:
    """``line`` cut to one row of ``columns``, marked as cut."""
    if len(line) <= columns and not always:
        return line
    return line[:columns - len(CUT)].rstrip() + CUT
