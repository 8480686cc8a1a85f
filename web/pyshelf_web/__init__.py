"""pyshelf-web: HTML pages, search and documentation hosting for pyshelf-server."""

__version__ = "0.1.0"
