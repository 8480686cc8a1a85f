"""Hostile input never becomes markup: descriptions, metadata, names and index options."""

from __future__ import annotations

from html.parser import HTMLParser

from pyshelf_server.testing import make_wheel

EVIL = "<script>alert('x')</script>"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def assert_no_injection(html: str, where: str) -> None:
    """Every element on the page is one the templates made: no scripts but the site's own, no
    event handlers, no javascript: URLs."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.elements:
        if tag == "script":
            assert (attrs.get("src") or "").endswith("/site.js"), (where, attrs)
        assert not [a for a in attrs if a.startswith("on")], (where, tag, attrs)
        for key in ("href", "src", "action"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith("javascript:"), (where, attrs)


def test_hostile_description_and_metadata_are_neutralised(web):
    web.create_user("alice", password="secret", title=EVIL, description=EVIL)
    web.create_index("alice/dev", user="alice", password="secret", title=EVIL, description=EVIL)
    filename, content = make_wheel(
        "evil", "1.0", summary=EVIL,
        description=f"# Title\n\n{EVIL}\n\n<img src=x onerror=alert(1)>\n\n"
                    "[click](javascript:alert(1))",
        extra={"Author": EVIL, "License": EVIL, "Keywords": EVIL,
               "Home-page": "javascript:alert(1)",
               "Project-URL": f"{EVIL}, javascript:alert(2)",
               "Classifier": EVIL},
        requires_dist=[f"x; extra == '{EVIL}'"],
    )
    response = web.upload("alice/dev", filename, content, name="evil", version="1.0",
                          user="alice", password="secret")
    assert response.status_int == 200
    web.indexed()
    for path in ("/", "/alice", "/alice/dev", "/alice/dev/evil", "/alice/dev/evil/1.0",
                 "/+search?query=alert", "/alice/dev/+search?query=script"):
        page = web.page(path)
        assert "<script>alert" not in page.text, path
        assert_no_injection(page.text, path)
    version = web.page("/alice/dev/evil/1.0").text
    assert "&lt;script&gt;" in version
    # The description is rendered (its heading is there), and sanitised by the checks above.
    assert "<h1" in version.split('class="readme"')[1]


def test_markup_in_urls_is_escaped(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    page = web.page("/alice/dev/%3Cscript%3Ealert(1)%3C%2Fscript%3E", status="*")
    assert page.status_int in (302, 404)
    assert_no_injection(page.text, "project")
    page = web.page("/alice/dev/%3Cb%3Ebold%3C%2Fb%3E/1.0", status="*")
    assert "<b>bold</b>" not in page.text
    missing = web.page("/<img src=x onerror=alert(1)>/dev", status=404)
    assert_no_injection(missing.text, "missing")
    search = web.page("/+search", params={"query": "<img src=x onerror=alert(1)>"})
    assert_no_injection(search.text, "search")
    assert "&lt;img src=x onerror=alert(1)&gt;" in search.text
