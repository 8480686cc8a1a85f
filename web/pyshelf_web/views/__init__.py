"""The plugin's views, one module per kind of page."""

from __future__ import annotations

from typing import Any

from pyshelf_server.plugin_api import APIError


def page_number(request: Any) -> int:
    """The ``?page=`` of a paginated list; anything but a positive integer is a 400."""
    raw = request.GET.get("page", "1")
    try:
        number = int(raw)
    except ValueError:
        raise APIError(400, f"page must be a positive integer, not {raw!r}") from None
    if number < 1:
        raise APIError(400, f"page must be a positive integer, not {raw!r}")
    return number
