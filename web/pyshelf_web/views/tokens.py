"""``/{user}/+tokens`` as a page: a logged-in user sees their API tokens and revokes them."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from pyshelf_server.plugin_api import ROUTE_USER_TOKENS, APIError, tokens

from ..templating import Links, render
from . import require_same_origin

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
    require_same_origin(request)
    name = request.context.username
    token_id = request.matchdict["token"]
    if not tokens(request).revoke(name, token_id):
        raise APIError(404, f"No token with id {token_id}")
    return HTTPSeeOther(location=Links(request).tokens(name) + f"?revoked={token_id}")
