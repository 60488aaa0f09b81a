"""What ``npdrop-conform`` trusts of the pytest run it starts: its own options, and the report
that run wrote.

- The child's environment has no ``PYTEST_ADDOPTS`` or ``PYTEST_PLUGINS``, and it autoloads no
  installed plugin: what runs, what is selected and which hooks run is what the command line
  says (and the one screen names a selection).
- The report paths and the log are resolved, and must be three different files, before
  anything runs; ``--log-dir`` must be a directory.
- The child writes a nonce, handed to it in its environment, into its JSON report: the
  command reads a report only if it carries that nonce, never because a file is there.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
from typing import Optional

#: the environment variable the nonce travels in (conformance.plugin.NONCE)
NONCE = "NPDROP_REPORT_NONCE"
#: why no report was read, when none was written
NO_REPORT = "no report was written"
#: pytest options that choose which tests run: (option, takes a value)
SELECTING = {"-k": True, "-m": True, "--deselect": True, "-x": False, "--exitfirst": False, "--maxfail": True,
             "--lf": False, "--last-failed": False, "--sw": False, "--stepwise": False}


#: the installed pytest plugins the judge loads (``-p``), where installed: pytest-xdist for ``-n``,
#: hypothesis' own for its options and its health checks' messages
PLUGINS = ("xdist.plugin", "_hypothesis_pytestplugin")


def plugin_arguments(rest: list) -> list:
    """``-p NAME`` for each of :data:`PLUGINS` that is installed and not named in ``rest``."""
    named = {rest[i + 1].partition(".")[0] for i, word in enumerate(rest[:-1]) if word == "-p"}
    named |= {word[2:].partition(".")[0] for word in rest if word.startswith("-p") and len(word) > 2}
    return [word for name in PLUGINS if name.partition(".")[0] not in named
            and importlib.util.find_spec(name.partition(".")[0]) for word in ("-p", name)]


def environment(nonce: str) -> dict:
    """The child's environment: this one without pytest's own variables, with the nonce."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env[NONCE] = nonce
    # nor the plugins installed in the environment (pytest-randomly reseeds and reorders, others
    # add their own hooks): the judge loads the two it uses by name (:data:`PLUGINS`)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def new_nonce() -> str:
    return secrets.token_hex(16)


def refused(report_json: Optional[str], report_md: Optional[str], log_dir: Optional[str]) -> Optional[str]:
    """Why these paths cannot be used (one line), or None. Checked before anything runs."""
    if log_dir and os.path.exists(log_dir) and not os.path.isdir(log_dir):
        return f"--log-dir {log_dir} is a file, not a directory"
    named = [("--report-json", report_json), ("--report-md", report_md)]
    if log_dir:
        named.append(("the log", os.path.join(log_dir, "pytest.log")))
    seen: dict = {}
    for option, path in named:
        if not path:
            continue
        real = os.path.realpath(path)
        if real in seen:
            return f"{seen[real]} and {option} name the same file ({path}): each report needs its own"
        if os.path.isdir(real):
            return f"{option} {path} is a directory"
        seen[real] = option
    return None


def selection(rest: list) -> Optional[str]:
    """The options in ``rest`` that select tests (and node ids), as typed; None if none."""
    words, i = [], 0
    while i < len(rest):
        word = rest[i]
        name = word.split("=", 1)[0]
        if word.startswith(("conformance/", "npdrop_conform/")) or "::" in word:
            words.append(word)
        elif name in SELECTING:
            takes = SELECTING[name] and "=" not in word and i + 1 < len(rest)
            words.append(f"{word} {rest[i + 1]}" if takes else word)
            i += takes
        i += 1
    return " ".join(words) or None


def own_report(path: str, nonce: str) -> tuple:
    """``(record, None)`` for the JSON report this run's child wrote at ``path``, else
    ``(None, why not)``: missing, unreadable, or written by something else."""
    if not os.path.isfile(path):
        return None, NO_REPORT
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        return None, f"the report at {path} cannot be read ({exc})"
    if not isinstance(record, dict) or record.get("nonce") != nonce:
        return None, f"the report at {path} was not written by this run's suite (its mark is missing or wrong)"
    return record, None
