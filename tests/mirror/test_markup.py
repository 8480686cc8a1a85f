"""HTML project pages are read by an HTML parser, the way pip reads them."""

from __future__ import annotations

from pyshelf_server.mirror.markup import page_anchors


def test_a_page_is_read_like_an_installer_reads_it():
    body = (
        b'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
        b'content="1.1">\n    <title>Links for a</title>\n  </head>\n  <body>\n'
        b'<base href="https://files.upstream.example/base/">\n'
        b'<a href="https://files.upstream.example/a-1.tar.gz#sha256=ab" '
        b'data-requires-python="&gt;=3.8" data-yanked>a-1.tar.gz</a><br/>\n'
        b"<A HREF='a-2.whl' DATA-CORE-METADATA=sha256=cd data-yanked=\"\">a-2.whl</A><br>\n"
        b'<a href="a-3.zip" title="x > y &lt; z">a-3.zip</a>\n'
        b'<a/><base href="ignored/"><abbr title="no">x</abbr><a\thref="a-4.zip"/>\n'
        b'<a href="caf\xc3\xa9-5.zip">caf\xc3\xa9-5.zip</a>\n'
        b"</body>\n</html>\n"
    )
    base, anchors = page_anchors(body)
    assert base == "https://files.upstream.example/base/"
    assert anchors[0] == {
        "href": "https://files.upstream.example/a-1.tar.gz#sha256=ab",
        "data-requires-python": ">=3.8",
        "data-yanked": "",
    }
    assert anchors[1] == {"href": "a-2.whl", "data-core-metadata": "sha256=cd", "data-yanked": ""}
    assert anchors[2] == {"href": "a-3.zip", "title": "x > y < z"}
    assert anchors[3] == {}
    assert anchors[4] == {"href": "a-4.zip"}
    assert anchors[5] == {"href": "café-5.zip"}
    assert len(anchors) == 6


def test_what_only_a_parser_reads_right():
    # Each of these fools a scan of the text for tags; an HTML parser reads them as pip does.
    bodies = [
        b'<!-- <a href="hidden.tar.gz">x</a> --><a href="shown.tar.gz">y</a>',
        b'<script>var s = "<a href=\'hidden.tar.gz\'>";</script><a href="shown.tar.gz">y</a>',
        b'<div title="<a href=hidden.tar.gz>"></div><a href="shown.tar.gz">y</a>',
        b'<?php <a href="hidden.tar.gz"> ?><a href="shown.tar.gz">y</a>',
        b'1 < 2 <a href="shown.tar.gz">y</a>',
    ]
    for body in bodies:
        assert page_anchors(body) == (None, [{"href": "shown.tar.gz"}]), body


def test_empty_and_broken_bodies_give_no_links():
    assert page_anchors(b"") == (None, [])
    assert page_anchors(b"   \n") == (None, [])
    assert page_anchors(b"no markup at all") == (None, [])
    _base, anchors = page_anchors(b'<a href="\xff\xfe.tar.gz">x</a><a href="ok.tar.gz">y</a>')
    assert anchors[-1] == {"href": "ok.tar.gz"}
