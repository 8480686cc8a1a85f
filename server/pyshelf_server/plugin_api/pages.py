"""What a plugin's pages and answers need from the request: absolute URLs, the links other
plugins add to a page, whether the request is an upload."""

from __future__ import annotations

from typing import Any

from ..indexes.registry import IndexInfo
from ..views.helpers import absolute


def absolute_url(request: Any, path: str) -> str:
    """``path`` (below the server root) as an absolute URL, honouring ``--outside-url`` and the
    ``X-Outside-Url`` header."""
    return absolute(request, path)


def is_upload_request(request: Any) -> bool:
    """Whether ``request`` is an upload (setuptools' form POST): its errors are answered in the
    form upload tools read, never as a page."""
    return bool(getattr(request, "is_upload", False))


def account_links(request: Any) -> list[tuple[str, str]]:
    """``(label, URL)`` of the account pages plugins serve (``pyshelf_account_links``)."""
    answers = request.registry.pyshelf.pm.hook.pyshelf_account_links(request=request)
    return [link for answer in answers for link in answer or ()]


def index_page_links(request: Any, index: IndexInfo) -> list[tuple[str, str]]:
    """``(label, URL)`` of the pages plugins serve about ``index``
    (``pyshelf_index_page_links``), for a web page to link."""
    answers = request.registry.pyshelf.pm.hook.pyshelf_index_page_links(
        request=request, index=index
    )
    return [link for answer in answers for link in answer or ()]
