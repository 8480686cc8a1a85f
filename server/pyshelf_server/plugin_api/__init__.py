"""The server's public API for plugins.

A plugin talks to the server through the hooks of :mod:`pyshelf_server.hookspecs`
(implemented with ``pyshelf_server.hookimpl``) and through this module — nothing else of
``pyshelf_server``: models, services and the request's internals may change in any release.
Everything listed in ``__all__`` keeps its meaning; see ``docs/plugins.md``.

Reading what the server holds goes through a :class:`ShelfReader`:

* ``reader(request)`` inside a request: it reads the request's own transaction, so what a
  view shows agrees with the request's permissions and serial;
* ``with open_reader(registry) as shelf:`` outside requests (a background thread, a command
  run by ``pyshelf_cmdline_run``): it opens a read transaction of its own and closes it at the
  end of the block.

Indexes are :class:`IndexInfo` values (frozen): what hooks receive as ``index`` and what
``request.context.index`` is on the routes of an index. Reads "through" an index follow
devpi's inheritance: its resolution order, the mirror whitelist, and the index type's filters.

This package's ``__init__`` is the API: plugins import from ``pyshelf_server.plugin_api``, never
from its submodules, which hold the parts by facade: ``reading`` (the read facade), ``values``
and ``summaries`` (what it answers), ``api_tokens`` (the API tokens facade), ``yanking`` (the
yank facade), ``login``, ``pages`` (URLs and links for a plugin's pages), ``server`` (settings
and serial) and ``route_names``; the rest is re-exported from the core.
"""

from __future__ import annotations

from .. import __version__ as SERVER_VERSION
from ..api.views import status_info
from ..cli.options import env_default, env_name
from ..indexes.backends import Link, StageBackend
from ..indexes.registry import IndexInfo
from ..indexes.types import (
    COMMON_OPTIONS,
    IndexType,
    Option,
    OptionError,
    StageType,
    to_acl,
    to_any,
    to_bool,
    to_int,
    to_list,
    to_text,
    to_url,
)
from ..memory import release_free_memory
from ..names import normalize_name
from ..packages.services import FileInfo
from ..permissions import ANONYMOUS, AUTHENTICATED, Permission
from ..resources import IndexContext, RootContext, UserContext
from ..responses import APIError
from ..routes import NAME
from ..security import Identity
from ..settings import ServerSettings
from ..simple.negotiation import is_installer, wants_api_json, wants_simple_json
from .api_tokens import Tokens, TokenSummary, register_token_caveat, tokens
from .login import log_in
from .pages import absolute_url, account_links, index_page_links, is_upload_request
from .reading import ShelfReader, open_reader, reader
from .route_names import (
    ROUTE_INDEX,
    ROUTE_PROJECT,
    ROUTE_ROOT,
    ROUTE_STATUS,
    ROUTE_USER,
    ROUTE_USER_TOKENS,
    ROUTE_VERSION,
)
from .server import server_serial, server_settings
from .summaries import ProjectSummary
from .values import StoredFile, UserInfo, VersionInfo
from .yanking import YankOutcome, Yanks, yanks

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "COMMON_OPTIONS",
    "NAME",
    "ROUTE_INDEX",
    "ROUTE_PROJECT",
    "ROUTE_ROOT",
    "ROUTE_STATUS",
    "ROUTE_USER",
    "ROUTE_USER_TOKENS",
    "ROUTE_VERSION",
    "SERVER_VERSION",
    "APIError",
    "FileInfo",
    "Identity",
    "IndexContext",
    "IndexInfo",
    "IndexType",
    "Link",
    "Option",
    "OptionError",
    "Permission",
    "ProjectSummary",
    "RootContext",
    "ServerSettings",
    "ShelfReader",
    "StageBackend",
    "StageType",
    "StoredFile",
    "TokenSummary",
    "Tokens",
    "UserContext",
    "UserInfo",
    "VersionInfo",
    "YankOutcome",
    "Yanks",
    "absolute_url",
    "account_links",
    "env_default",
    "env_name",
    "index_page_links",
    "is_installer",
    "is_upload_request",
    "log_in",
    "normalize_name",
    "open_reader",
    "reader",
    "register_token_caveat",
    "release_free_memory",
    "server_serial",
    "server_settings",
    "status_info",
    "to_acl",
    "to_any",
    "to_bool",
    "to_int",
    "to_list",
    "to_text",
    "to_url",
    "tokens",
    "wants_api_json",
    "wants_simple_json",
    "yanks",
]
