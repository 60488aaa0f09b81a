"""Saving and loading state dicts as ``.npz`` archives, with no pickle anywhere.

``save(model_or_state, path)`` writes one array per key (``"0.weight"``, ...);
``load(path)`` returns them as an ordered dict ready for ``Module.load_state_dict``.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import IO, Mapping, Union

import numpy as np

from npdrop.module import Module

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


def _numeric_arrays(state: Mapping) -> "OrderedDict[str, np.ndarray]":
    arrays = OrderedDict()
    for key, value in state.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"save: state dict keys must be non-empty strings, got {key!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f'save: "{key}" has dtype {array.dtype}; only real numeric arrays are saved')
        arrays[key] = array
    return arrays


def _write_npz(handle: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    # What np.savez does, minus its keyword interface: a key named "file" or
    # "allow_pickle" cannot collide with an argument, and pickling is off explicitly.
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(model_or_state: Union[Module, Mapping], path: PathOrFile) -> None:
    """Write ``model.state_dict()`` (or a mapping name -> array) to ``path`` as ``.npz``.

    The name is used as given (numpy's ``savez`` would append ".npz"). A path is written
    through a temporary file in the same folder and renamed into place, so a failed save
    never leaves a truncated archive behind. An open binary file is written directly.
    """
    if isinstance(model_or_state, Module):
        state = model_or_state.state_dict()
    elif isinstance(model_or_state, Mapping):
        state = model_or_state
    else:
        raise TypeError(f"save: expected a Module or a mapping of name -> array, got {type(model_or_state).__name__}")
    arrays = _numeric_arrays(state)
    if hasattr(path, "write"):
        _write_npz(path, arrays)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".npdrop-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_npz(handle, arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: PathOrFile) -> "OrderedDict[str, np.ndarray]":
    """Read a state dict written by :func:`save` (any ``.npz`` of numeric arrays).

    Opens with ``allow_pickle=False``. A file that is not an ``.npz`` archive, is truncated
    or corrupt, or holds an object or other non-numeric array raises ``ValueError`` naming
    the file (and the key where one is at fault). A missing file raises
    ``FileNotFoundError`` as usual.
    """
    if hasattr(path, "read"):
        name = repr(getattr(path, "name", "<file object>"))
        handle = contextlib.nullcontext(path)
    else:
        name = repr(os.fspath(path))
        # Opened here, not by np.load: np.load leaks its handle when the zip directory is bad.
        handle = open(path, "rb")
    with handle as fh:
        try:
            archive = np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"load: {name} is not a readable .npz archive ({exc})") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"load: {name} holds a single .npy array, not an .npz archive of named arrays")
        state = OrderedDict()
        with archive:
            for key in archive.files:
                try:
                    array = archive[key]
                except Exception as exc:  # zipfile, zlib, format and pickle refusals all land here
                    raise ValueError(f'load: {name}: cannot read array "{key}" ({type(exc).__name__}: {exc})') from exc
                if array.dtype.kind not in "biuf":
                    raise ValueError(f'load: {name}: array "{key}" has dtype {array.dtype}, not a real numeric dtype')
                state[key] = array
    return state
