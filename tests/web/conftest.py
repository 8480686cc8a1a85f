"""Fixtures for the web plugin's tests: the app with the plugin registered explicitly, and a
driver that asks for pages the way a browser does."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from pyshelf_server.testing import Shelf, checked_status

BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) pyshelf-tests",
}


class WebShelf(Shelf):
    """The functional-test driver, plus verbs for pages, docs and the search indexer."""

    @property
    def web(self) -> Any:
        return self.app.registry.pyshelf_web

    def page(self, path: str, status: int | str = 200, **kw: Any) -> Any:
        headers = {**BROWSER, **kw.pop("headers", {})}
        answer = self.test.get(path, headers=headers, status=status,
                               expect_errors=status == "*" or int(status) >= 400, **kw)
        # webtest checks no status once errors are expected.
        return checked_status(answer, status)

    def upload_docs(self, fullname: str, content: bytes, *, name: str, version: str,
                    user: str = "root", password: str | None = None, status: Any = 200) -> Any:
        form = [(":action", "doc_upload"), ("name", name), ("version", version)]
        answer = self.test.post(
            f"/{fullname}/", form, upload_files=[("content", f"{name}-{version}.doc.zip", content)],
            headers=self.auth(user, password), status=status, expect_errors=True,
        )
        return checked_status(answer, status)

    def indexed(self) -> None:
        """Wait until the background indexer has processed everything queued so far."""
        assert self.web.indexer.wait_idle(30), "the indexer did not finish in time"

    def flush_downloads(self) -> None:
        self.app.registry.pyshelf.downloads.flush()


@pytest.fixture
def web_app(make_app: Any) -> Any:
    from pyshelf_web import main

    app = make_app(plugins=[main])
    yield app
    app.registry.pyshelf_web.indexer.stop()


@pytest.fixture
def web(web_app: Any) -> WebShelf:
    return WebShelf(web_app)


def make_docs_zip(files: dict[str, str | bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """A docs zip; ``symlinks`` maps member names to link targets (stored as Unix symlinks)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()
