"""Helpers for the mirror's tests: an in-process server with a mirror of a made-up upstream
(``upstream.example``, mocked at the transport by pytest-httpx), and upstream pages."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from pyshelf_server.testing import Shelf

UPSTREAM = "https://upstream.example/simple/"
FILES = "https://files.upstream.example/packages/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_page(name: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {"meta": {"api-version": "1.1"}, "name": name, "files": files}


def file_entry(filename: str, content: bytes, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "url": FILES + filename, "hashes": {"sha256": sha256(content)},
            **extra}


def html_page(anchors: list[str]) -> str:
    body = "\n".join(anchors)
    return f"<!DOCTYPE html><html><body>\n{body}\n</body></html>\n"


class MirrorShelf(Shelf):
    """The shelf driver plus the mirror's verbs."""

    def simple(self, path: str, *, accept: str = JSON_TYPE, status: int = 200,
               headers: dict[str, str] | None = None) -> Any:
        response = self.test.get(path, headers={"Accept": accept, **(headers or {})},
                                 status=status, expect_errors=status >= 400)
        return response

    @property
    def files_dir(self) -> Any:
        return self.app.registry.pyshelf.settings.files_dir

    def page_json(self, path: str) -> dict[str, Any]:
        return json.loads(self.simple(path).body)

    def download(self, page: str, url: str, *, status: int = 200, **kw: Any) -> Any:
        """GET the file at ``url`` as given on the simple page at ``page``; then wait until
        the download (answered once verified) is also stored."""
        path = urlsplit(urljoin("http://localhost" + page, url)).path
        response = self.test.get(path, status=status, expect_errors=status >= 400, **kw)
        self.settle()
        return response

    def settle(self) -> None:
        from pyshelf_server.mirror.runtime import runtime

        assert runtime(self.app.registry.pyshelf).downloads.settle(30)


@pytest.fixture
def make_mirror(make_app: Any) -> Any:
    """``make_mirror(**options)``: an app with ``root/pypi`` mirroring ``UPSTREAM`` (no project
    list unless asked for) and ``root/dev`` based on it. Each app's mirror runtime is closed
    afterwards, so no background work of one test reaches into the next."""
    made: list[MirrorShelf] = []

    def make(*, settings: dict[str, Any] | None = None, dev: dict[str, Any] | None = None,
             **options: Any) -> MirrorShelf:
        shelf = MirrorShelf(make_app(**(settings or {})))
        config = {"type": "mirror", "mirror_url": UPSTREAM, "mirror_no_project_list": True,
                  **options}
        shelf.create_index("root/pypi", **config)
        shelf.create_index("root/dev", bases="root/pypi", **(dev or {}))
        made.append(shelf)
        return shelf

    yield make
    from pyshelf_server.mirror.runtime import close_runtime

    for shelf in made:
        close_runtime(shelf.app.registry.pyshelf)


@pytest.fixture
def mirror(make_mirror: Any) -> MirrorShelf:
    return make_mirror()
