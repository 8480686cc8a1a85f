"""``/{user}/{index}/+simple/`` and ``/{user}/{index}/+simple/{project}/``."""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from ..names import normalize_name
from ..permissions import Permission
from ..responses import APIError
from ..views.helpers import outside_url, redirect, require, root_url
from .negotiation import is_installer, simple_format, wants_simple_json
from .render import HTML_TYPE, JSON_TYPE, RELATIVE_PREFIX
from .services import PAGE_VARY, SimpleService, page_headers


def _served_directly(request: Any) -> bool:
    return is_installer(request) or wants_simple_json(request)


def _content_type(media_type: str) -> str:
    if media_type == JSON_TYPE:
        return JSON_TYPE
    return HTML_TYPE + "; charset=utf-8"


@view_config(route_name="simple.list", request_method=("GET", "HEAD"))
def project_list(request: Any) -> Response:
    index = request.context.index
    if request.matched_route.name == "simple.list" and not request.matchdict.get("slash"):
        if not _served_directly(request):
            response = redirect(request, f"{index.fullname}/+simple/")
            response.headers["Vary"] = "User-Agent"
            return response
    media_type = simple_format(request)
    service = SimpleService(request.shelf)
    page = service.cached_project_list(index, media_type)
    if page is not None:
        return _page_response(request, page)
    response = Response(content_type=None)
    response.headers["Content-Type"] = _content_type(media_type)
    response.headers["Vary"] = PAGE_VARY
    if request.method != "HEAD":
        response.app_iter = service.project_list(index, media_type)
    return response


def _page_response(request: Any, page: Any) -> Response:
    headers = {**page_headers(page), **dict(page.headers)}
    if page.etag in request.if_none_match:
        response = Response(status=304)
        response.headers.update(headers)
        return response
    response = Response(body=page.body if request.method != "HEAD" else b"", content_type=None)
    response.headers["Content-Type"] = _content_type(page.content_type)
    response.headers.update(headers)
    if request.method == "HEAD":
        response.content_length = len(page.body)
    return response


def _url_prefix(request: Any) -> str:
    settings = request.registry.pyshelf.settings
    # A configured outside URL is what every client uses, whatever Host a proxy sent: links
    # built on it are absolute without trusting the request, and pip resolves absolute links
    # without urljoin (~0.1 s of a warm download of 15 mirrored packages).
    absolute_urls = (
        settings.absolute_urls
        or settings.outside_url
        or "X-Devpi-Absolute-Urls" in request.headers
        or request.matched_route.name != "simple.project"
        or not request.matchdict.get("slash")
    )
    if absolute_urls or outside_url(request):
        return root_url(request) + "/"
    return RELATIVE_PREFIX


@view_config(route_name="simple.project", request_method=("GET", "HEAD"))
def project_page(request: Any) -> Response:
    index = request.context.index
    name = request.matchdict["project"]
    if not name.isascii():
        raise APIError(400, "project names must be ASCII")
    normalized = normalize_name(name)
    if normalized != name:
        return redirect(request, f"{index.fullname}/+simple/{normalized}/")
    if request.matched_route.name == "simple.project" and not request.matchdict.get("slash"):
        if not _served_directly(request):
            return redirect(request, f"{index.fullname}/+simple/{normalized}/")
    require(request, Permission.PKG_READ)
    media_type = simple_format(request)
    page = SimpleService(request.shelf).project_page(
        index, normalized, media_type, _url_prefix(request)
    )
    if page is None:
        raise APIError(404, f"no project {normalized!r} on index {index.fullname}")
    return _page_response(request, page)


@view_config(route_name="simple.refresh", request_method="POST")
def refresh(request: Any) -> Response:
    index = request.context.index
    normalized = normalize_name(request.matchdict["project"])
    for stage in request.shelf.snapshot.resolution_order(index):
        if stage.is_mirror:
            refresher = getattr(request.shelf.backend(stage), "refresh", None)
            if refresher is not None:
                refresher(normalized)
    return redirect(request, f"{index.fullname}/+simple/{normalized}/", keep_query=False)
