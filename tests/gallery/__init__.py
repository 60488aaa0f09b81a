"""A gallery of from-scratch NumPy dropouts, most of them subtly wrong, for the conformance suite.

Every class here has the calling convention most hand-written dropout has: ``Cls(p)``,
``forward(x, training=True)`` (or ``train()``/``eval()``, or a ``training`` attribute),
``backward(grad)``, masks from ``np.random``. ``tests/test_gallery.py`` runs
``pytest conformance/ --impl tests.gallery.<module>:<Class>`` on each one and checks that
the faulty ones fail, with the broken property named in the report, and that the correct
ones pass. Importing the gallery package needs no torch (the ``frameworks_*`` modules
import the library they are written in). What the test expects of each
entry (verdict, failing property, diagnoses, ...) is written on the entry, as an :class:`Expect`.

- :mod:`._base`: correct baselines the faulty classes each break in one place;
- :mod:`.values`, :mod:`.draws`, :mod:`.state`, :mod:`.backward`, :mod:`.variants`: the
  faults, grouped by what they get wrong (``variants``: channel and alpha dropout);
- :mod:`.correct`: correct implementations written in other styles;
- ``shapes_*``: the calling conventions people write, one module per convention, correct and
  faulty: results on attributes, other mode names, CS231n functional pairs, forward-only
  functions, other method names, p as the keep probability, the original form.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expect:
    """What ``tests/test_gallery.py`` checks of an entry's run: set on the entry itself, as
    ``expect = Expect(...)`` in a class body or ``function.expect = Expect(...)`` after a
    function, and only there (a class or function without one is no entry).

    The test reads it from the source (:mod:`ast`), without importing the module, so that an
    entry written in a library that is not installed is still listed, and skipped; its values
    are therefore literals, given by keyword.
    """

    #: the property that must fail; ``None``: a correct entry, which passes every property
    fails: str | None
    #: its faults are all edge ones (``fails`` is an edge property, conformance/README.md "Two
    #: tiers"): the run exits 0 and its report says it conforms in training
    conforms_in_training: bool = False
    #: the torch module it is compared with (``--reference``)
    reference: str = "Dropout"
    #: the diagnosis ids its report must name, and no other (none for a correct entry)
    diagnoses: tuple = ()
    #: if given, every property that must fail, and no other (a fault counted once, where it is)
    only: tuple = ()
    #: ``(property, words)``: one of that property's failure messages must contain the words
    message: tuple | None = None
    #: words its diagnoses' advice must contain (the advice follows the resolved meaning of p)
    advice: str | None = None
    #: the command-line options it needs beyond ``--impl`` and ``--reference`` (what no name can tell)
    options: tuple = ()
    #: it has no backward: its backward properties must be n/a, never pass or fail
    forward_only: bool = False
    #: correct, but refuses bfloat16 with a TypeError: those cells are n/a ("unsupported"), never failed
    refuses_bfloat16: bool = False
    #: its forward returns something that is not an array (a list, None): never taken for an unsupported dtype
    returns_non_array: bool = False
