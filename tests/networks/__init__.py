"""Small from-scratch NumPy networks, written the way three well-known books and courses lay
them out, correct and with planted faults, for the network check (``conformance/network``).
Each module says what its builders must get from the check, as ``EXPECT``."""
