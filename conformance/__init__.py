"""npdrop's conformance harness: any NumPy dropout against torch's, with the same masks.

Run ``pytest conformance/`` (npdrop) or ``pytest conformance/ --impl MODULE:NAME``; see
``conformance/README.md``.
"""
