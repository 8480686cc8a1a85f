"""The core's route names (``ROUTE_*``) a plugin may use."""

from __future__ import annotations

# Names of the core's routes, for ``request.route_url`` and for view registrations that add a
# representation (the web's HTML pages) to a core URL. Route factories: ``RootContext``,
# ``UserContext`` (``.username``) and ``IndexContext`` (``.index``, an ``IndexInfo``).
ROUTE_ROOT = "root"
ROUTE_STATUS = "status"
ROUTE_USER = "user"
# ``/{user}/+tokens``: the user's API tokens (``Tokens`` reads and revokes them).
ROUTE_USER_TOKENS = "user.tokens"
ROUTE_INDEX = "index"
ROUTE_PROJECT = "project"
ROUTE_VERSION = "version"
