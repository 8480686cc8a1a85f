"""pyshelf-lockdown: every request needs an authenticated identity; per-index read ACLs."""

__version__ = "0.1.0"
