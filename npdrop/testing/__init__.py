"""Tools for testing against torch; the runtime (``import npdrop``) never imports them.

- :mod:`npdrop.testing.compare`: :func:`assert_same`, shape, dtype, then values, with ULPs
  (numpy only);
- :mod:`npdrop.testing.inject`: :func:`inject_masks` / :func:`record_masks`, the same masks
  inside torch's own dropout (imports torch);
- :mod:`npdrop.testing.replay_check`: :func:`check_torch_replays`, does a given torch's CPU
  stream replay in :class:`npdrop.TorchCPUGenerator` (imports torch when called).
"""
from .compare import DEFAULT_TOLERANCE, Mismatch, assert_same, to_numpy, ulp_distance
from .replay_check import check_torch_replays

__all__ = ["DEFAULT_TOLERANCE", "Mismatch", "assert_same", "check_torch_replays", "to_numpy",
           "ulp_distance"]
