"""Reading what an upstream simple index sends, below the level of pages: whether a body is PEP
691 JSON or PEP 503 HTML, and the anchors (and ``<base href>``) of an HTML page.

Shared by page parsing (``upstream``) and list parsing (``listparse``, which runs in a child
process and so must not import the HTTP client; it scans a list's anchors faster itself).
"""

from __future__ import annotations

from html.parser import HTMLParser

JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")


def is_json(content_type: str, body: bytes) -> bool:
    """Whether ``body`` is JSON: by its media type, else by its first character."""
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES:
        return True
    if "html" in media:
        return False
    return body.lstrip()[:1] == b"{"


class AnchorParser(HTMLParser):
    """Collects ``<a>`` tags (attributes and text) and the first ``<base href>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: tuple[dict[str, str | None], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self._finish()
            self._open = (dict(attrs), [])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish()

    def _finish(self) -> None:
        if self._open is not None:
            self.anchors.append((self._open[0], "".join(self._open[1]).strip()))
            self._open = None

    def close(self) -> None:
        super().close()
        self._finish()


def anchors(body: bytes) -> AnchorParser:
    """The parser after reading all of ``body`` (decoded as UTF-8, bad bytes replaced)."""
    parser = AnchorParser()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    return parser
