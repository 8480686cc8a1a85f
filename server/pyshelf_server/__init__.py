"""pyshelf-server: a multi-index caching proxy server for Python packages."""

import pluggy

__version__ = "0.1.0"

# Plugins import this marker to implement the hooks in pyshelf_server.hookspecs.
hookimpl = pluggy.HookimplMarker("pyshelf")
