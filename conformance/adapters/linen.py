"""Flax linen modules that draw their randomness with ``self.make_rng(name)``.

A linen module runs only inside ``apply``, and ``make_rng('dropout')`` there needs a key
for that collection: ``module.apply(variables, x, rngs={'dropout': key})``. Which
collections a module draws from is not in its signature (a submodule such as
``nn.Dropout`` may draw for it), so the probing call tells: flax raises
``InvalidRngError: ... needs PRNG for "dropout"``, and the collection it names is given a
key from then on. A module that never calls ``make_rng`` gets no ``rngs=``.
"""
from __future__ import annotations

import re
from typing import Optional

_NEEDS = re.compile(r'needs PRNG for "([^"]+)"')


def missing_collection(exc: Optional[BaseException], given: tuple) -> Optional[str]:
    """The rng collection flax says the module needs (``InvalidRngError``), if it is not
    one of ``given`` already (a collection that still fails with a key is not retried)."""
    if exc is None or type(exc).__name__ != "InvalidRngError":
        return None
    found = _NEEDS.search(str(exc))
    return found.group(1) if found and found.group(1) not in given else None


def rngs(collections: tuple, key, start: int = 0) -> dict:
    """``apply``'s ``rngs=``: the call's key for the first collection, a key folded from it
    for each further one (``start`` 1: the key itself went to a parameter of the module)."""
    import jax

    return {name: key if i == 0 else jax.random.fold_in(key, i)
            for i, name in enumerate(collections, start=start)}


def describe(collections: tuple) -> str:
    shown = ", ".join(f"'{name}': <key>" for name in collections)
    return f"rngs={{{shown}}} to apply (the module calls make_rng)"
