"""The plugin: its options, its routes and views, and the server hooks that keep search current.

Registered under the ``pyshelf_server`` entry-point group; ``pyshelf_pyramid_configure`` includes
this module, which builds the plugin's process-wide state (``registry.pyshelf_web``).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import (
    NAME,
    IndexContext,
    IndexInfo,
    RootContext,
    UserContext,
    env_default,
    env_name,
    server_settings,
)

from .description import DescriptionCache
from .docs import DocsLimits, DocStore
from .predicates import HtmlWanted
from .search.indexer import REBUILD, Indexer
from .search.whoosh_index import SearchIndex
from .templating import STATIC_PREFIX, make_environment

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger(__name__)

DEFAULT_DOCS_MAX_SIZE = 200 * 1024 * 1024


class WebState:
    """The plugin's process-wide parts, on the registry as ``registry.pyshelf_web``."""

    def __init__(self, registry: Any) -> None:
        settings = server_settings(registry)
        options = settings.options
        serverdir = Path(settings.serverdir)
        docs_root = Path(options.get("documentation_path") or serverdir / "docs")
        max_size = int(options.get("docs_max_size") or DEFAULT_DOCS_MAX_SIZE)
        self.docs = DocStore(docs_root, limits=DocsLimits(max_total_bytes=max_size))
        # Opened by the indexer thread once the server runs (see pyshelf_server_start), or by
        # the first request that needs it.
        self.search = SearchIndex(serverdir / "search-index")
        self.indexer = Indexer(
            registry=registry,
            search=self.search,
            docs=self.docs,
            marker=serverdir / "search-index.pending",
        )
        self.descriptions = DescriptionCache()
        self._templates: Environment | None = None
        self._templates_lock = threading.Lock()

    @property
    def templates(self) -> Environment:
        """The Jinja2 environment, made for the first page (importing Jinja2 and setting it up
        is ~40 ms the server need not spend before it answers)."""
        if self._templates is None:
            with self._templates_lock:
                if self._templates is None:
                    self._templates = make_environment()
        return self._templates


# -- server hooks ------------------------------------------------------------------------------


@hookimpl
def pyshelf_add_parser_options(parser: Any) -> None:
    group = parser.add_argument_group("web (pyshelf-web)")
    group.add_argument(
        "--documentation-path",
        default=env_default("--documentation-path", ""),
        help="where uploaded docs zips are unpacked "
        f"[{env_name('--documentation-path')}, default: SERVERDIR/docs]",
    )
    group.add_argument(
        "--docs-max-size",
        type=int,
        default=env_default("--docs-max-size", DEFAULT_DOCS_MAX_SIZE),
        help="largest unpacked size of one docs zip, in bytes "
        f"[{env_name('--docs-max-size')}, default: %(default)s]",
    )
    group.add_argument(
        "--recreate-search-index",
        action="store_true",
        help="rebuild the search index from the database, then exit",
    )


@hookimpl
def pyshelf_pyramid_configure(config: Any, settings: Any) -> None:
    config.include("pyshelf_web.main")


def includeme(config: Any) -> None:
    config.registry.pyshelf_web = WebState(config.registry)
    config.add_view_predicate("html_wanted", HtmlWanted)
    u, i, p, v = ("{%s:%s}" % (part, NAME) for part in ("user", "index", "project", "version"))  # noqa: UP031
    factory = IndexContext
    config.add_route("web.search", "/+search", factory=RootContext)
    config.add_route("web.token.revoke", f"/{u}/+tokens/{{token}}/+revoke", factory=UserContext)
    config.add_route("web.search.index", f"/{u}/{i}/+search", factory=factory)
    # The core's version route matches exactly four segments, so these longer paths are ours.
    config.add_route("web.version.yank", f"/{u}/{i}/{p}/{v}/+yank", factory=factory)
    config.add_route("web.doc.raw", f"/{u}/{i}/{p}/{v}/+doc/*path", factory=factory)
    config.add_route("web.doc.raw.bare", f"/{u}/{i}/{p}/{v}/+doc", factory=factory)
    config.add_route("web.doc.frame", f"/{u}/{i}/{p}/{v}/+d/*path", factory=factory)
    config.add_route("web.doc.frame.bare", f"/{u}/{i}/{p}/{v}/+d", factory=factory)
    # Versioned, so browsers may keep the assets for a long time.
    month = 86400 * 30
    config.add_static_view(STATIC_PREFIX.lstrip("/"), "pyshelf_web:static", cache_max_age=month)
    for module in ("pages", "project", "docs", "search", "status", "tokens", "errors"):
        config.scan(f"pyshelf_web.views.{module}")


def _web(request_or_registry: Any) -> WebState:
    registry = getattr(request_or_registry, "registry", request_or_registry)
    return registry.pyshelf_web


@hookimpl
def pyshelf_cmdline_run(registry: Any) -> int | None:
    if not server_settings(registry).options.get("recreate_search_index"):
        return None
    web = _web(registry)
    web.search.recreate()
    web.indexer.process([REBUILD])
    print(f"search index recreated: {web.search.doc_count()} documents", file=sys.stdout)
    return 0


@hookimpl
def pyshelf_server_start(registry: Any) -> None:
    web = _web(registry)
    # The indexer thread opens the search index; on a new or changed schema, or with work left
    # pending by a crash, it fills the index from the database. Searching works (on what is
    # there) meanwhile.
    web.indexer.queue_open()
    # Changes made by other server processes on the database reach this search index too.
    web.indexer.watch()


@hookimpl
def pyshelf_server_stop(registry: Any) -> None:
    _web(registry).indexer.stop()


@hookimpl
def pyshelf_on_upload(request: Any, index: Any, project: str, version: str, file: Any) -> None:
    _web(request).indexer.queue_project(index.fullname, project)


@hookimpl
def pyshelf_on_docs_upload(request: Any, index: Any, project: str, version: str, file: Any) -> None:
    _web(request).indexer.queue_project(index.fullname, project)


@hookimpl
def pyshelf_on_push(request: Any, source: Any, target: str, project: str, version: str) -> None:
    # A push to another server (target is a URL) changes nothing here.
    if "://" not in target:
        _web(request).indexer.queue_project(target, project)


@hookimpl
def pyshelf_on_remove(request: Any, index: Any, project: str, version: str | None) -> None:
    _web(request).indexer.queue_project(index.fullname, project)


@hookimpl
def pyshelf_on_mirror_project_changed(registry: Any, index: IndexInfo, project: str) -> None:
    _web(registry).indexer.queue_project(index.fullname, project)


@hookimpl
def pyshelf_index_deleted(request: Any, index: IndexInfo) -> None:
    # Its documents go at once, instead of when a search next stumbles on them.
    _web(request).indexer.queue_index(index.fullname)


@hookimpl
def pyshelf_get_status_info(request: Any) -> dict[str, Any]:
    indexer = _web(request).indexer
    return {
        "metrics": [
            ["pyshelf_web_search_queue_size", "gauge", indexer.queue_size],
            ["pyshelf_web_search_errors", "counter", indexer.errors],
        ],
        "search-index": {
            "documents": _web(request).search.doc_count(),
            "queue": indexer.queue_size,
            "errors": indexer.errors,
            "last-error": indexer.last_error,
            "last-indexed": indexer.last_run,
        },
    }
