"""Reading what an upstream simple index sends, below the level of pages: whether a body is PEP
691 JSON or PEP 503 HTML, and the anchors (and ``<base href>``) of an HTML page.

Shared by page parsing (``upstream``) and list parsing (``listparse``, which runs in a child
process and so must not import the HTTP client; it scans a list's anchors faster itself).
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import unescape
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


# -- the fast path for regular pages -------------------------------------------------------

_WS = "\t\n\r\f "
_NAME = r"[a-zA-Z_:][-a-zA-Z0-9_:.]*"
# A bare value: printable ASCII but white space, quotes, "<", ">" and "`", not starting with "=".
_BARE = r"[!#-&(-;?-_a-~][!#-&(-;=?-_a-~]*"
_VALUE = rf"\"[^\"]*\"|'[^']*'|{_BARE}"
# Every tag of a page written the regular way (what indexes write): a start tag whose attributes
# are separated by white space, with values in double or single quotes or bare; an end tag; the
# doctype. Quoted values are consumed with their tag, so a "<" inside one is no tag.
_TOKEN = re.compile(
    rf"<([a-zA-Z][a-zA-Z0-9:_.-]*)((?:[{_WS}]+{_NAME}(?:[{_WS}]*=[{_WS}]*(?:{_VALUE}))?)*)"
    rf"[{_WS}]*/?>|</[a-zA-Z][a-zA-Z0-9:_.-]*[{_WS}]*>|<!doctype[^<>]*>",
    re.IGNORECASE,
)
_ATTR = re.compile(rf"({_NAME})(?:[{_WS}]*(=)[{_WS}]*(?:\"([^\"]*)\"|'([^']*)'|({_BARE})))?")
# What the HTML parser reads differently from a plain scan of tags: comments, CDATA sections,
# processing instructions, and the raw text of script and style elements.
_SPECIAL = re.compile(r"<(?:!--|!\[|\?|script|style)", re.IGNORECASE)


def _attrs(raw: str) -> dict[str, str | None]:
    """The attributes of a regular start tag as the HTML parser reports them: names in lower
    case, character references in values resolved, None for a name without a value, the last
    of a repeated name winning."""
    found: dict[str, str | None] = {}
    for name, equals, double, single, bare in _ATTR.findall(raw):
        if not equals:
            found[name.lower()] = None
            continue
        value = double or single or bare
        found[name.lower()] = _unescape(value) if "&" in value else value
    return found


# The same few values (``&gt;=3.8``) come back on every link of a page.
_unescape = lru_cache(maxsize=4096)(unescape)


def scan_anchors(body: bytes) -> tuple[str | None, list[dict[str, str | None]]]:
    """(the first ``<base href>``, the attributes of every ``<a>``) of an HTML page.

    A page of thousands of links is scanned with regular expressions in a fraction of the time
    the HTML parser needs. Only pages whose every ``<`` starts a regular tag (see ``_TOKEN``)
    and that have no comment, CDATA, script or style are scanned so; anything else goes through
    the HTML parser, which reads them the same way.
    """
    text = body.decode("utf-8", "replace")
    if _SPECIAL.search(text) is None:
        tokens = _TOKEN.findall(text)
        # Every "<" of the page must be the start of a token or inside a quoted value of one.
        inside = "".join([raw for _tag, raw in tokens]).count("<")
        if len(tokens) + inside == text.count("<"):
            base: str | None = None
            found: list[dict[str, str | None]] = []
            for tag, raw in tokens:
                if tag == "a" or tag == "A":
                    found.append(_attrs(raw))
                elif base is None and tag.lower() == "base":
                    base = _attrs(raw).get("href")
            return base, found
    parser = AnchorParser()
    parser.feed(text)
    parser.close()
    return parser.base, [attrs for attrs, _text in parser.anchors]
