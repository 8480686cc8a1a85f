"""``/{user}/+tokens`` as a page: a logged-in user sees their API tokens and revokes them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from pyshelf_server.plugin_api import ROUTE_USER_TOKENS, APIError, absolute_url, tokens

from ..templating import Links, render

REVOKE_ROUTE = "web.token.revoke"


@view_config(route_name=ROUTE_USER_TOKENS, request_method=("GET", "HEAD"), html_wanted=True)
def token_list(request: Any) -> Any:
    name = request.context.username
    return render(
        request,
        "tokens.html",
        username=name,
        tokens=tokens(request).list(name),
        revoked=request.GET.get("revoked", ""),
    )


@view_config(route_name=REVOKE_ROUTE, request_method="POST")
def token_revoke(request: Any) -> Any:
    _same_origin(request)
    name = request.context.username
    token_id = request.matchdict["token"]
    if not tokens(request).revoke(name, token_id):
        raise APIError(404, f"No token with id {token_id}")
    return HTTPSeeOther(location=Links(request).tokens(name) + f"?revoked={token_id}")


def _same_origin(request: Any) -> None:
    """A form posted from another site must not revoke tokens with the browser's credentials:
    browsers name the page a POST comes from in Origin (or at least Referer)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    ours = urlsplit(absolute_url(request, "/"))
    theirs = urlsplit(source)
    if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
        raise APIError(403, "this form may only be sent from this server's own pages")
