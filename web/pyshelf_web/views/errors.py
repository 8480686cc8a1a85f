"""Error pages for browsers. The core answers errors as JSON; for requests that want HTML the
same errors become a page with the same status and message."""

from __future__ import annotations

import logging
from typing import Any

from pyramid.httpexceptions import HTTPException
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from pyshelf_server.plugin_api import APIError

from ..templating import render

log = logging.getLogger(__name__)


def error_page(request: Any, status: int, message: str) -> Any:
    response = render(request, "error.html", status=status, code=status, message=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="pypi"'
    return response


@exception_view_config(APIError, html_wanted=True)
def api_error(exc: APIError, request: Any) -> Any:
    response = error_page(request, exc.status, exc.message)
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


@notfound_view_config(html_wanted=True)
def not_found(request: Any) -> Any:
    return error_page(request, 404, f"no such page: {request.path}")


@forbidden_view_config(html_wanted=True)
def forbidden(request: Any) -> Any:
    if request.authenticated_userid is None:
        return error_page(request, 401, "authentication required")
    return error_page(request, 403, "Access was denied to this resource.")


@exception_view_config(HTTPException, html_wanted=True)
def http_exception(exc: HTTPException, request: Any) -> Any:
    if exc.status_code < 400:
        return exc
    return error_page(request, exc.status_code, exc.explanation or exc.title)


@exception_view_config(UnicodeDecodeError, html_wanted=True)
def unicode_error(exc: Exception, request: Any) -> Any:
    return error_page(request, 400, "request is not valid UTF-8")


@exception_view_config(Exception, html_wanted=True)
def unexpected(exc: Exception, request: Any) -> Any:
    log.exception("unexpected error in %s %s", request.method, request.path_qs)
    return error_page(request, 500, f"internal error: {type(exc).__name__}")
