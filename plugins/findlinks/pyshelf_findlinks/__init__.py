"""pyshelf-findlinks: a pip --find-links page of an index's release files."""

__version__ = "0.1.0"
