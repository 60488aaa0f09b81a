"""A gallery of from-scratch NumPy dropouts, most of them subtly wrong, for the conformance suite.

Every class here has the calling convention most hand-written dropout has: ``Cls(p)``,
``forward(x, training=True)`` (or ``train()``/``eval()``, or a ``training`` attribute),
``backward(grad)``, masks from ``np.random``. ``tests/test_gallery.py`` runs
``pytest conformance/ --impl tests.gallery.<module>:<Class>`` on each one and checks that
the faulty ones fail, with the broken property named in the report, and that the correct
ones pass. Numpy only: importing the gallery needs no torch.

- :mod:`._base`: correct baselines the faulty classes each break in one place;
- :mod:`.values`, :mod:`.draws`, :mod:`.state`, :mod:`.backward`, :mod:`.variants`: the
  faults, grouped by what they get wrong (``variants``: channel and alpha dropout);
- :mod:`.correct`: correct implementations written in other styles;
- ``shapes_*``: the calling conventions people write, one module per convention, correct and
  faulty: results on attributes, other mode names, CS231n functional pairs, forward-only
  functions, other method names, p as the keep probability, the original form.
"""
