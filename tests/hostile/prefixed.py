"""Correct dropout only when run under ``--worker-prefix 'env NPDROP_UNDER_PREFIX=1'``."""
import os

from ._base import Correct, NoScale

Dropout = Correct if os.environ.get("NPDROP_UNDER_PREFIX") == "1" else NoScale
