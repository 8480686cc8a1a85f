"""Which representation a client gets: simple JSON or HTML, API JSON, installer or browser."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from webob.acceptparse import create_accept_header

from .render import HTML_TYPE, HTML_V1_TYPE, JSON_TYPE

INSTALLER_AGENT = re.compile(r"^([^ ]* )*(distribute|setuptools|pip|pex|uv)/")
_OFFERS = [HTML_TYPE, JSON_TYPE, HTML_V1_TYPE]
# Installers send one of a handful of short Accept values; those are negotiated once. Longer
# ones are negotiated each time, so that clients sending many large distinct values cannot make
# the server keep them.
REMEMBERED_ACCEPT_LENGTH = 256
REMEMBERED_ACCEPT_VALUES = 512


def media_type_for(accept: str | None) -> str:
    """The media type of the simple page to send (PEP 691) for an ``Accept`` header, text/html
    when in doubt."""
    if not accept:
        return HTML_TYPE
    if len(accept) > REMEMBERED_ACCEPT_LENGTH:
        return _negotiate(accept)
    return remembered_negotiation(accept)


def _negotiate(accept: str) -> str:
    offers = create_accept_header(accept).acceptable_offers(_OFFERS)
    return offers[0][0] if offers else HTML_TYPE


remembered_negotiation = lru_cache(maxsize=REMEMBERED_ACCEPT_VALUES)(_negotiate)


def simple_format(request: Any) -> str:
    return media_type_for(request.headers.get("Accept"))


def wants_simple_json(request: Any) -> bool:
    return JSON_TYPE in request.headers.get("Accept", "")


def is_installer(request: Any) -> bool:
    return bool(INSTALLER_AGENT.match(request.headers.get("User-Agent", "")))


def wants_api_json(request: Any) -> bool:
    return "application/json" in request.headers.get("Accept", "")
