"""Reading what an upstream simple index sends, below the level of pages: whether a body is PEP
691 JSON or PEP 503 HTML, the anchors (and ``<base href>``) of an HTML page, and the names of an
HTML project list.

HTML is read by a real HTML parser, libxml2's (through lxml), never by pattern matching: it
reads comments, scripts, stray ``<`` and unclosed tags the way browsers and pip do. It is also
several times faster than the standard library's parser, which took ~60 ms for a project page
of 2,500 links (1 MB) and minutes for the million-name project list.

Shared by page parsing (``upstream``) and list parsing (``listparse``, which runs in a child
process and so must not import the HTTP client).
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")


def is_json(content_type: str, body: bytes) -> bool:
    """Whether ``body`` is JSON: by its media type, else by its first character."""
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES:
        return True
    if "html" in media:
        return False
    return body.lstrip()[:1] == b"{"


# Upstream pages are UTF-8 (PEP 503); comments and processing instructions are no content.
_PARSER_OPTIONS: dict[str, object] = {
    "encoding": "utf-8",
    "remove_comments": True,
    "remove_pis": True,
    "no_network": True,
}


def page_anchors(body: bytes) -> tuple[str | None, list[dict[str, str]]]:
    """(the first ``<base href>``, the attributes of every ``<a>``) of an HTML page.

    Attribute names come in lower case and values with character references resolved; an
    attribute without a value (``data-yanked``) has the value "".
    """
    if not body.strip():
        return None, []
    root = etree.fromstring(body, etree.HTMLParser(**_PARSER_OPTIONS))
    base: str | None = None
    found: list[dict[str, str]] = []
    if root is None:
        return base, found
    for element in root.iter("a", "base"):
        if element.tag == "a":
            found.append(dict(element.attrib))
        elif base is None and "href" in element.attrib:
            base = element.attrib["href"]
    return base, found


# The list is fed to the parser in pieces of this size, so it is never decoded whole.
_LIST_PIECE = 1 << 20


def list_anchor_names(body: bytes) -> Iterator[str]:
    """The text of every ``<a>`` of a PEP 503 project list (its ``href`` when the text is empty).

    A list has about a million anchors: each is read as the parser ends it and dropped at once,
    with what came before it, so the document is never held as a tree.
    """
    parser = etree.HTMLPullParser(events=("end",), tag="a", **_PARSER_OPTIONS)
    for start in range(0, len(body), _LIST_PIECE):
        parser.feed(body[start : start + _LIST_PIECE])
        yield from _names_read(parser)
    if body.strip():
        parser.close()
        yield from _names_read(parser)


def _names_read(parser: etree.HTMLPullParser) -> Iterator[str]:
    for _event, element in parser.read_events():
        name = "".join(element.itertext()).strip() or element.get("href") or ""
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
        yield name
