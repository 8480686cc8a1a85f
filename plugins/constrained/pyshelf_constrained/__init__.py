"""pyshelf-constrained: a read-only index type that filters its bases by constraints."""

__version__ = "0.1.0"
