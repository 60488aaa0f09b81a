"""``MODULE:NAME`` checked before anything starts: a typo is a usage error in well under a
second, with the next step, instead of one from a child pytest after torch has loaded.

Nothing of the user's is executed here. Modules are found as the import system would find
them (:class:`importlib.machinery.PathFinder`, parent packages not imported) and the names a
module defines are read from its source (:mod:`ast`). Whatever cannot be told that way (an
extension module, ``from x import *``, a module ``__getattr__``, a package that edits its
``__path__``) is left to the suite itself, which imports the module under its guard; so a
spec this module lets through may still fail there, and one it refuses never could load.
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import sys
from importlib.machinery import PathFinder
from typing import Optional

#: text in a module's source after which its names cannot be read statically
_DYNAMIC = ("__getattr__", "globals()", "vars()", "exec(", "__path__", "sys.modules")


def problem(spec: str, folder: Optional[str] = None) -> Optional[str]:
    """Why ``spec`` cannot name an importable object, with what to run instead; ``None``
    when it may (the suite then loads it). ``folder``: the user's directory (default: cwd)."""
    folder = os.path.abspath(folder or os.getcwd())
    module_name, sep, name = spec.partition(":")
    if _is_file(module_name, folder):
        return _file_given(module_name, name, folder)
    if not sep or not module_name or not name:
        return _no_name(spec, module_name or name, folder)
    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        return (f"{module_name!r} is not a module name (MODULE:NAME, e.g. mypkg.layers:MyDropout); "
                "give the module name as you would import it")
    found = _find(parts, folder)
    if isinstance(found, str):
        return found
    if found is None:
        return None
    source, package_dir = found
    names = _names(source)
    if names is None:
        return None
    if package_dir:
        names |= _modules_in(package_dir)
    first = name.split(".")[0]
    if first in names:
        return None
    return (f"{module_name} ({_short(source, folder)}) has no {first!r}."
            + _suggest(first, names, source, module_name))


def _is_file(module_name: str, folder: str) -> bool:
    return (module_name.endswith((".py", ".pyw")) or "/" in module_name or os.sep in module_name
            or (os.altsep is not None and os.altsep in module_name))


def _file_given(path: str, name: str, folder: str) -> str:
    full = os.path.abspath(os.path.join(folder, path))
    stem = os.path.splitext(os.path.basename(full))[0]
    where = os.path.dirname(full)
    if not name:
        defined = _defined(full) if os.path.isfile(full) else []
        name = defined[0] if defined else "NAME"
    command = f"npdrop-conform {stem}:{name}"
    step = f"run `{command}`" if where == folder else f"run from its folder: `cd {_short(where, folder)} && {command}`"
    return (f"{path} is a file; give the module name, not the file: {step}"
            + ("" if os.path.isfile(full) else f" (and {_short(full, folder)} does not exist)"))


def _no_name(spec: str, module_name: str, folder: str) -> str:
    head = f"expected MODULE:NAME (e.g. mymodule:MyDropout), got {spec!r}"
    found = _find(module_name.split("."), folder) if all(p.isidentifier() for p in module_name.split(".")) else None
    if isinstance(found, tuple):
        defined = _defined(found[0])
        if defined:
            return (f"{head}; {module_name} defines {', '.join(defined[:8])}: "
                    f"run `npdrop-conform {module_name}:{defined[0]}`")
    return f"{head}: the module, a colon, then the class or function in it"


def _find(parts: list, folder: str):
    """``(source path, package folder or None)`` of the module; a message if it surely does not
    exist; ``None`` when the import system may still find it in a way not seen here."""
    spec, search, init = None, None, None
    for depth, part in enumerate(parts):
        spec, below = _top(part, folder) if depth == 0 else _sub(part, search)
        if spec is None:
            if depth == 0 and (part in sys.builtin_module_names or part in sys.modules):
                return None
            if depth and not _plain_package(init):
                return None
            return _not_found(parts, depth, [folder] + sys.path if depth == 0 else search, folder)
        if depth < len(parts) - 1 and spec.submodule_search_locations is None:
            return None   # a module, not a package, with a submodule: only its own code can tell
        search, init = below, spec.origin
    if spec.origin is None or not spec.origin.endswith(".py"):
        return None       # a namespace package, an extension module: names unknown here
    package = os.path.dirname(spec.origin) if spec.submodule_search_locations else None
    return spec.origin, package


def _top(name: str, folder: str) -> tuple:
    """The spec of a top-level module, found from ``folder`` first (as the suite will import
    it) and then as usual (editable installs included), and the folders of its submodules;
    finding one executes nothing."""
    saved = list(sys.path)
    sys.path[:] = [folder] + [p for p in saved if p and os.path.abspath(p) != folder]
    try:
        spec = importlib.util.find_spec(name)
        # read now: a namespace package's folders follow sys.path, which is put back below
        return spec, list(spec.submodule_search_locations or []) if spec else []
    except (ImportError, ValueError):
        return None, []
    finally:
        sys.path[:] = saved


def _sub(name: str, search: list) -> tuple:
    spec = PathFinder.find_spec(name, search)
    return spec, list(spec.submodule_search_locations or []) if spec else []


def _plain_package(init: Optional[str]) -> bool:
    """Whether a package's submodules are only its folders' files: a namespace package, or an
    ``__init__`` that does not edit ``__path__`` or ``sys.modules``."""
    if init is None:
        return True
    if not init.endswith(".py"):
        return False
    try:
        with open(init, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return False
    return not any(word in text for word in _DYNAMIC)


def _not_found(parts: list, depth: int, path: list, folder: str) -> str:
    missing = ".".join(parts[:depth + 1])
    candidates = set()
    for entry in path:
        candidates |= _modules_in(entry)
    close = difflib.get_close_matches(parts[depth], sorted(candidates), n=3, cutoff=0.6)
    if depth == 0:
        return (f"no module named {missing!r} in the current folder or the installed packages"
                + (f"; closest: {', '.join(close)}" if close else
                   f"; run from the folder that holds {missing}.py (or its package), or install it"))
    return f"no module named {missing!r}: {'.'.join(parts[:depth])} has no {parts[depth]}.py" + (
        f"; closest: {', '.join(close)}" if close else "")


def _modules_in(entry: str) -> set:
    try:
        listing = os.listdir(entry or ".")
    except OSError:
        return set()
    found = set()
    for item in listing:
        stem, ext = os.path.splitext(item)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.add(stem)
        elif not ext and item.isidentifier() and os.path.isfile(os.path.join(entry, item, "__init__.py")):
            found.add(item)
    return found


def _tree(source: str) -> Optional[ast.Module]:
    try:
        with open(source, "rb") as f:
            return ast.parse(f.read(), source)
    except (OSError, SyntaxError, ValueError):
        return None   # the suite's own import reports a syntax error with its file and line


def _names(source: str) -> Optional[set]:
    """The names the module's top level binds, or ``None`` when its source cannot settle it."""
    tree = _tree(source)
    if tree is None:
        return None
    with open(source, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    if any(word in text for word in _DYNAMIC):
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Global):
            names.update(node.names)
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for target in _targets(node):
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _top_level(body: list):
    """Statements run at import, through ``if``/``try``/``with``/loops (not into functions)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from _top_level(inner)
        if isinstance(node, ast.ExceptHandler) and node.name:
            yield ast.Assign(targets=[ast.Name(node.name)], value=None)


def _targets(node) -> list:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        return [node.target]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.optional_vars for item in node.items if item.optional_vars is not None]
    if isinstance(node, ast.NamedExpr):
        return [node.target]
    return [n.target for n in ast.walk(node) if isinstance(n, ast.NamedExpr)] if isinstance(node, ast.Expr) else []


def _defined(source: str) -> list:
    """The classes, then the functions, the module defines at its top level, in source order."""
    tree = _tree(source)
    if tree is None:
        return []
    body = list(_top_level(tree.body))
    classes = [n.name for n in body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
    functions = [n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and not n.name.startswith("_")]
    return classes + functions


def _suggest(name: str, names: set, source: str, module_name: str) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(name.lower(), sorted(names, key=str.lower), n=3, cutoff=0.5)
    if close:
        return f" Closest names it has: {', '.join(close)}; e.g. `npdrop-conform {module_name}:{close[0]}`"
    defined = _defined(source)
    if defined:
        return f" It defines {', '.join(defined[:8])}; e.g. `npdrop-conform {module_name}:{defined[0]}`"
    return " It defines no class or function at its top level."


def _short(path: str, folder: str) -> str:
    """``path`` relative to the user's folder when inside it, else as it is."""
    if path == folder:
        return "."
    if path.startswith(folder + os.sep):
        return os.path.relpath(path, folder)
    return path
