"""``/``, ``/{user}`` and ``/{user}/{index}`` as pages."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from pyshelf_server.plugin_api import (
    ROUTE_INDEX,
    ROUTE_ROOT,
    ROUTE_USER,
    APIError,
    index_page_links,
    reader,
    server_settings,
)

from ..catalog import index_projects, stage_order, users_with_indexes
from ..templating import Page, render
from . import page_number

PROJECTS_PER_PAGE = 100


@view_config(route_name=ROUTE_ROOT, request_method=("GET", "HEAD"), html_wanted=True)
def root(request: Any) -> Any:
    return render(request, "root.html", users=users_with_indexes(request))


@view_config(route_name=ROUTE_USER, request_method=("GET", "HEAD"), html_wanted=True)
def user(request: Any) -> Any:
    name = request.context.username
    entry = reader(request).user(name)
    if entry is None:
        raise APIError(404, f"no user {name!r}")
    return render(request, "user.html", entry=entry)


@view_config(route_name=ROUTE_INDEX, request_method=("GET", "HEAD"), html_wanted=True)
def index(request: Any) -> Any:
    info = request.context.index
    number = page_number(request)
    stages, mirrors = stage_order(request, info)
    context: dict[str, Any] = {"index": info, "stages": stages, "mirrors": mirrors}
    if info.is_mirror:
        settings = server_settings(request)
        context["cache_expiry"] = info.options.get(
            "mirror_cache_expiry", settings.mirror_cache_expiry
        )
        context["offline"] = settings.offline_mode
        return render(request, "mirror.html", **context)
    page = Page(index_projects(request, info), number, PROJECTS_PER_PAGE)
    if number > page.count:
        raise APIError(404, f"page {number} does not exist; the last page is {page.count}")
    # Summaries and latest versions come from the search index's stored fields: one lookup per
    # project shown, instead of loading every version's metadata from the database.
    stored: dict[str, dict[str, Any]] = {}
    search = request.registry.pyshelf_web.search
    by_stage: dict[str, list[str]] = {}
    for name, stage in page.items:
        by_stage.setdefault(stage, []).append(name)
    for stage, names in by_stage.items():
        for name, fields in search.stored_projects(stage, names).items():
            stored[f"{stage}\0{name}"] = fields
    context["plugin_links"] = index_page_links(request, info)
    return render(request, "index.html", page=page, stored=stored, **context)
