"""pyshelf-client: the ``pyshelf`` command line client."""

__version__ = "0.1.0"
