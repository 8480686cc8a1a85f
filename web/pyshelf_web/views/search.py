"""``/+search?query=…`` over every index, ``/{user}/{index}/+search`` within one index (and the
indexes it inherits from).

Whoosh holds the hosted projects (and fetched mirrored ones); a mirror's full name list is never
put into Whoosh. Instead, names are looked up by prefix on the mirror's own stored list, when
its backend offers ``project_names_with_prefix(prefix, limit)``.
"""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from pyshelf_server.plugin_api import IndexInfo, ShelfReader, reader

from ..search.whoosh_index import normalized_name
from ..templating import Page, render
from . import page_number

GROUPS_PER_PAGE = 20
MAX_QUERY = 200
MIRROR_NAMES = 20


def _mirror_names(shelf: ShelfReader, mirrors: list[IndexInfo], text: str) -> list[tuple[str, str]]:
    prefix = normalized_name(text)
    found: list[tuple[str, str]] = []
    if not prefix:
        return found
    for info in mirrors:
        names = shelf.mirror_names_with_prefix(info, prefix, MIRROR_NAMES)
        found.extend((info.fullname, name) for name in names)
    return found[:MIRROR_NAMES]


def _search(request: Any, scope: Any) -> Any:
    # "q" as well as "query": the name other indexes' search forms use.
    text = (request.GET.get("query") or request.GET.get("q", "")).strip()[:MAX_QUERY]
    number = page_number(request)
    shelf = reader(request)
    existing = shelf.indexes()
    if scope is None:
        indexes = None
        mirrors = [i for i in existing if i.is_mirror]
    else:
        order = shelf.resolution_order(scope)
        indexes = [i.fullname for i in order]
        mirrors = [i for i in order if i.is_mirror]
    web = request.registry.pyshelf_web
    results = web.search.search(
        text,
        indexes=indexes,
        existing={i.fullname for i in existing},
        offset=(number - 1) * GROUPS_PER_PAGE,
        count=GROUPS_PER_PAGE,
    )
    # Hits of indexes not listed to this requester are left out. Those of an index deleted
    # since it was indexed too, and the indexer is told to drop them.
    for name in results.gone:
        if shelf.index(name) is None:
            web.indexer.queue_index(name)
    page = Page.already_sliced(results.groups, results.total, number, GROUPS_PER_PAGE)
    return render(
        request,
        "search.html",
        query=text,
        scope=scope,
        page=page,
        mirror_names=_mirror_names(shelf, mirrors, text) if text and number == 1 else [],
    )


@view_config(route_name="web.search", request_method=("GET", "HEAD"), html_wanted=True)
def search_all(request: Any) -> Any:
    return _search(request, None)


@view_config(route_name="web.search.index", request_method=("GET", "HEAD"), html_wanted=True)
def search_index(request: Any) -> Any:
    return _search(request, request.context.index)
