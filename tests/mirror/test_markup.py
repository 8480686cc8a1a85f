"""The fast scan of HTML project pages reads exactly what the HTML parser reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyshelf_server.mirror import markup
from pyshelf_server.mirror.markup import AnchorParser, scan_anchors


def parsed(body: bytes) -> tuple[str | None, list[dict[str, str | None]]]:
    parser = AnchorParser()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    return parser.base, [attrs for attrs, _text in parser.anchors]


def test_a_regular_page_is_read_like_the_parser_reads_it(monkeypatch):
    body = (
        b'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
        b'content="1.1">\n    <title>Links for a</title>\n  </head>\n  <body>\n'
        b'<base href="https://files.upstream.example/base/">\n'
        b'<a href="https://files.upstream.example/a-1.tar.gz#sha256=ab" '
        b'data-requires-python="&gt;=3.8" data-yanked>a-1.tar.gz</a><br/>\n'
        b"<A HREF='a-2.whl' DATA-CORE-METADATA=sha256=cd data-yanked=\"\">a-2.whl</A><br>\n"
        b'<a href = "a&amp;b-3.zip" href="a-3.zip" title="x > y &lt; z">a-3.zip</a>\n'
        b'<a/><base href="ignored/"><abbr title="no">x</abbr><a\thref="a-4.zip"/>\n'
        b"</body>\n</html>\n"
    )
    expected = parsed(body)

    def no_parser() -> None:
        raise AssertionError("a regular page is scanned without the HTML parser")

    monkeypatch.setattr(markup, "AnchorParser", no_parser)
    assert scan_anchors(body) == expected
    base, anchors = scan_anchors(body)
    assert base == "https://files.upstream.example/base/"
    assert anchors[0]["data-requires-python"] == ">=3.8"
    assert anchors[0]["data-yanked"] is None
    assert anchors[1] == {"href": "a-2.whl", "data-core-metadata": "sha256=cd", "data-yanked": ""}
    assert anchors[2]["href"] == "a-3.zip"
    assert anchors[2]["title"] == "x > y < z"
    assert anchors[3] == {}
    assert anchors[4] == {"href": "a-4.zip"}


def test_what_the_scan_cannot_read_goes_to_the_parser():
    # Each of these would fool a scan of tags: the parser decides.
    bodies = [
        b'<!-- <a href="hidden.tar.gz">x</a> --><a href="shown.tar.gz">y</a>',
        b'<script>var s = "<a href=\'hidden.tar.gz\'>";</script><a href="shown.tar.gz">y</a>',
        b'<div title="<a href=hidden.tar.gz>"></div><a href="shown.tar.gz">y</a>',
        b'<div title="x"data-a="<a href=hidden.tar.gz>"><a href="shown.tar.gz">y</a>',
        b'<a href=x"y.tar.gz>x</a> 1 < 2 <a href="shown.tar.gz">y</a>',
        b'<a href="unclosed.tar.gz>x</a><a href="shown.tar.gz">y</a>',
        b'<![CDATA[<a href="hidden.tar.gz">]]><a href="shown.tar.gz">y</a>',
        b'<a href="\xff\xfe.tar.gz">x</a><a\xa0href="no">y</a>',
    ]
    for body in bodies:
        assert scan_anchors(body) == parsed(body), body


_names = st.sampled_from(
    [
        "href",
        "HREF",
        "data-yanked",
        "data-requires-python",
        "title",
        "a",
        "data-core-metadata",
        "x:y",
        "b'",
        'c"',
        "d<",
        "=e",
        "f/",
    ]
)
_values = st.text(alphabet="ab <>=&;'\"/\t\n#gtl&amp;", max_size=12)
_quoted = st.one_of(
    _values.map(lambda v: f'"{v}"'), _values.map(lambda v: f"'{v}'"), _values, st.just("")
)
_spaces = st.sampled_from([" ", "  ", "\n", "\t", "", "/", " / ", "\xa0", "\x0b"])
_attribute = st.one_of(
    _names,
    st.tuples(_names, st.sampled_from(["=", " = ", "==", "= "]), _quoted).map("".join),
)
_tag_name = st.sampled_from(
    ["a", "A", "base", "BASE", "abbr", "br", "div", "script", "style", "a1", "b"]
)
_start_tag = st.tuples(
    _tag_name,
    st.lists(st.tuples(_spaces, _attribute).map("".join), max_size=4),
    _spaces,
    st.sampled_from([">", "/>", " >", ""]),
).map(lambda p: f"<{p[0]}{''.join(p[1])}{p[2]}{p[3]}")
_piece = st.one_of(
    _start_tag,
    _tag_name.map(lambda t: f"</{t}>"),
    st.sampled_from(
        [
            "<!DOCTYPE html>",
            "<!-- c -->",
            "<!--",
            "-->",
            "<![CDATA[x]]>",
            "<?x?>",
            "<",
            ">",
            "&lt;",
            "&amp;",
            "text",
            "\n",
            "<br/>",
            "</ a>",
            "<!doctype",
        ]
    ),
    st.text(alphabet="ab <>=\"'", max_size=6),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_piece, max_size=14).map("".join))
def test_any_page_is_read_like_the_parser_reads_it(page):
    body = page.encode("utf-8")
    assert scan_anchors(body) == parsed(body)
