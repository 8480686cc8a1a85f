"""``GET /_/oidc/audience`` and ``POST /_/oidc/mint-token``, answering as warehouse does.

The clients read little: the audience's ``audience`` key; the mint's ``token`` on a 2xx, and on
anything else an ``errors`` list of ``{"code", "description"}`` (the gh action crashes on a
failure without one). So every answer of the mint route, whatever went wrong, has that shape.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.view import view_config

from ..responses import json_response
from .service import MintError

log = logging.getLogger(__name__)

NOT_ENABLED = "Trusted publishing functionality not enabled"


def mint_failure(code: str, description: str, status: int = 422) -> Any:
    return json_response(
        {"message": "Token request failed", "errors": [{"code": code, "description": description}]},
        status=status,
    )


@view_config(route_name="oidc.audience", request_method=("GET", "HEAD"))
def audience(request: Any) -> Any:
    publishing = request.registry.pyshelf.trusted_publishing
    if not publishing.enabled:
        return json_response({"message": NOT_ENABLED}, status=403)
    return json_response({"audience": publishing.audience})


@view_config(route_name="oidc.mint")
@view_config(route_name="oidc.mint.github")
def mint_token(request: Any) -> Any:
    if request.method != "POST":
        response = mint_failure("invalid-payload", "mint a token with POST", status=405)
        response.headers["Allow"] = "POST"
        return response
    if not request.registry.pyshelf.trusted_publishing.enabled:
        return mint_failure("not-enabled", NOT_ENABLED)
    from .minting import mint

    try:
        token, expires = mint(request)
    except MintError as error:
        return mint_failure(error.code, error.description)
    except Exception:
        log.exception("minting a trusted publishing token failed")
        return mint_failure("server-error", "the server could not mint a token", status=500)
    return json_response({"success": True, "token": token, "expires": expires})
