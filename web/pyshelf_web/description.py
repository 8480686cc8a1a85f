"""Long descriptions rendered as PyPI renders them (reST, Markdown or plain text), sanitised.

``readme_renderer`` cleans its output with an allow-list (nh3), so scripts, event handlers and
``javascript:`` links in a description never reach the page. Rendering reST is slow (docutils),
so results are kept in a small LRU cache keyed by a hash of the input.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from email.message import Message
from html.parser import HTMLParser

from markupsafe import Markup, escape

# Larger descriptions are shown as plain text: docutils on megabytes of input would hold a
# request thread for seconds.
MAX_RENDERED = 512 * 1024
CACHE_SIZE = 256


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = value or "text/x-rst"
    params = {k.lower(): v for k, v in message.get_params()[1:]} if message.get_params() else {}
    return message.get_content_type(), params


def render(text: str, content_type: str = "") -> Markup:
    if not text or not text.strip():
        return Markup("")
    # Imported on first use: docutils and the Markdown stack cost startup time and memory a
    # server that never shows a version page does not need.
    from readme_renderer import markdown, rst, txt

    if len(text) > MAX_RENDERED:
        return Markup(txt.render(text[:MAX_RENDERED]))  # noqa: S704 - txt.render escapes
    kind, params = _content_type(content_type)
    html = None
    if kind == "text/markdown":
        html = markdown.render(text, variant=params.get("variant", "GFM"))
    elif kind == "text/plain":
        html = txt.render(text)
    else:
        # reST is the default of the metadata specification; text that is not valid reST is
        # shown as plain text, as PyPI does.
        html = rst.render(text)
    if html is None:
        html = txt.render(text)
    return Markup(html)  # noqa: S704 - readme_renderer's output is sanitised by nh3


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def rendered_text(text: str, content_type: str = "") -> str:
    """The words of a description as its page shows them: rendered, without markup."""
    try:
        html = render(text, content_type)
    except Exception:  # a renderer bug must not keep the project out of the search
        return text
    parser = _TextOf()
    parser.feed(str(html))
    parser.close()
    return " ".join(" ".join(parser.parts).split())


class DescriptionCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, Markup] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, text: str, content_type: str = "") -> Markup:
        key = hashlib.sha256(f"{content_type}\0{text}".encode("utf-8", "replace")).hexdigest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        try:
            html = render(text, content_type)
        except Exception:  # a renderer bug must not take the version page down
            html = Markup("<pre>") + escape(text[:MAX_RENDERED]) + Markup("</pre>")
        with self._lock:
            self._items[key] = html
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return html
