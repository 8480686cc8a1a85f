"""``GET /{user}/{index}/+findlinks`` (devpi-findlinks): one HTML page linking every release
file of the non-mirror stages in the index's resolution order, first stage first for a file
name, sorted by file name, with absolute URLs and ``#sha256=`` fragments — what
``pip install --no-index --find-links URL NAME`` reads. It needs ``pkg_read`` on the index
(with lockdown: on every index of its resolution order), and the index's type filters
(constrained) apply.
"""

from __future__ import annotations

import html
from typing import Any

from pyramid.response import Response

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import (
    NAME,
    APIError,
    IndexContext,
    Link,
    Permission,
    absolute_url,
    reader,
)

ROUTE = "findlinks"


def findlinks_links(request: Any) -> list[Link]:
    index = request.context.index
    shelf = reader(request)
    index_type = shelf.index_type(index)
    by_filename: dict[str, Link] = {}
    for stage in shelf.resolution_order(index):
        if stage.is_mirror:
            continue
        for project in index_type.filter_projects(index, shelf.own_projects(stage)):
            links = [
                link for link in shelf.own_links(stage, project) if link.filename not in by_filename
            ]
            for link in index_type.filter_links(index, project, links):
                by_filename.setdefault(link.filename, link)
    return [by_filename[name] for name in sorted(by_filename)]


def findlinks_page(request: Any) -> Response:
    if not request.has_permission(Permission.PKG_READ, request.context):
        raise APIError(403, "package read forbidden")
    title = f"{request.context.index.fullname}: links for pip --find-links"
    rows = []
    for link in findlinks_links(request):
        url = absolute_url(request, link.path)
        if link.sha256:
            url += f"#sha256={link.sha256}"
        rows.append(f'<a href="{html.escape(url)}">{html.escape(link.filename)}</a><br>')
    body = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        + "\n".join(rows)
        + "\n</body></html>\n"
    )
    return Response(body=body.encode("utf-8"), content_type="text/html", charset="utf-8")


@hookimpl
def pyshelf_index_page_links(request: Any, index: Any) -> list[tuple[str, str]] | None:
    if index.is_mirror:
        return None
    return [("Links for pip --find-links", absolute_url(request, f"{index.fullname}/+findlinks"))]


@hookimpl
def pyshelf_pyramid_configure(config: Any, settings: Any) -> None:
    pattern = "/{user:" + NAME + "}/{index:" + NAME + "}/+findlinks"
    config.add_route(ROUTE, pattern, factory=IndexContext)
    config.add_view(findlinks_page, route_name=ROUTE, request_method=("GET", "HEAD"))
