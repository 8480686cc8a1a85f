"""Which representation a client gets: simple JSON or HTML, API JSON, installer or browser."""

from __future__ import annotations

import re
from typing import Any

from .render import HTML_TYPE, HTML_V1_TYPE, JSON_TYPE

INSTALLER_AGENT = re.compile(r"^([^ ]* )*(distribute|setuptools|pip|pex|uv)/")
_OFFERS = [HTML_TYPE, JSON_TYPE, HTML_V1_TYPE]


def simple_format(request: Any) -> str:
    """The media type of the simple page to send (PEP 691), text/html when in doubt."""
    header = request.headers.get("Accept")
    if not header:
        return HTML_TYPE
    offers = request.accept.acceptable_offers(_OFFERS)
    if not offers:
        return HTML_TYPE
    return offers[0][0]


def wants_simple_json(request: Any) -> bool:
    return JSON_TYPE in request.headers.get("Accept", "")


def is_installer(request: Any) -> bool:
    return bool(INSTALLER_AGENT.match(request.headers.get("User-Agent", "")))


def wants_api_json(request: Any) -> bool:
    return "application/json" in request.headers.get("Accept", "")
