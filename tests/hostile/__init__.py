"""Implementations that try to change their own verdict, or to hang or kill the run.

Each is run by tests/test_hostile.py through ``npdrop-conform``: every one must end, within
its time limit plus a few seconds, in a failed or incomplete verdict with a non-zero exit
status, its report at the asked path and the cause on the screen (``threads.py``, which
is correct dropout, must pass and end). ``network.py`` puts them inside a whole network for
tests/test_hostile_network.py and ``npdrop-conform --network``.
"""
