"""The plugin's views, one module per kind of page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pyshelf_server.plugin_api import APIError, absolute_url

# The forms of these pages hold a few short fields (a yank reason of up to 64 KiB, the API's
# limit, percent-encoded); a larger body is not one of them.
MAX_FORM_BYTES = 1024 * 1024


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


def require_same_origin(request: Any) -> None:
    """A form posted from another site must not act with the browser's credentials: browsers
    name the page a POST comes from in Origin (or at least Referer)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    ours = urlsplit(absolute_url(request, "/"))
    theirs = urlsplit(source)
    if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
        raise APIError(403, "this form may only be sent from this server's own pages")


def form_fields(request: Any) -> dict[str, str]:
    """The text fields of a posted form (the last value of each name); 400 for what is not
    a form of ours."""
    if request.content_length and request.content_length > MAX_FORM_BYTES:
        raise APIError(413, f"a form may be at most {MAX_FORM_BYTES} bytes")
    try:
        posted = request.POST
        return {key: value for key, value in posted.items() if isinstance(value, str)}
    except Exception:  # WebOb raises assorted errors on malformed bodies
        raise APIError(400, "malformed form data") from None
