"""Search: kept current through the server's hooks, ranked, grouped and highlighted."""

from __future__ import annotations

import re

from pyshelf_server.testing import make_wheel

from .conftest import make_docs_zip


def upload(web, index, name, version="1.0", **meta):
    filename, content = make_wheel(name, version, **meta)
    response = web.upload(index, filename, content, name=name, version=version, user="alice",
                          password="secret")
    assert response.status_int == 200, response.status


def setup(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")


def result_names(page):
    return re.findall(r'<article class="card result">\s*<h2><a href="[^"]+">([^<]+)</a>', page.text)


def test_exact_name_first_then_summary_matches(web):
    setup(web)
    upload(web, "alice/dev", "httpie-helper", summary="Helps with requests in the shell")
    upload(web, "alice/dev", "requests", summary="HTTP for humans")
    upload(web, "alice/dev", "requests-toolbelt", summary="Utilities")
    upload(web, "alice/dev", "unrelated", summary="Nothing to see",
           description="It mentions requests once, deep in the description.")
    web.indexed()
    names = result_names(web.page("/+search?query=requests"))
    assert names[0] == "requests"
    assert names[1] == "requests-toolbelt"
    assert names.index("httpie-helper") < names.index("unrelated")
    assert set(names) == {"requests", "requests-toolbelt", "httpie-helper", "unrelated"}


def test_names_found_by_any_spelling(web):
    setup(web)
    upload(web, "alice/dev", "Foo.Bar_baz", summary="Separators everywhere")
    upload(web, "alice/dev", "foo", summary="Just foo")
    web.indexed()
    for spelling in ("foo-bar-baz", "foo_bar_baz", "foo.bar.baz", "Foo.Bar_Baz", "foobarbaz",
                     "FOO-BAR.BAZ"):
        names = result_names(web.page(f"/+search?query={spelling}"))
        assert names and names[0] == "Foo.Bar_baz", (spelling, names)


def test_prefix_of_a_name(web):
    setup(web)
    upload(web, "alice/dev", "frobnicator", summary="Frobs")
    web.indexed()
    assert result_names(web.page("/+search?query=frobni")) == ["frobnicator"]


def test_results_grouped_by_project_across_indexes_and_highlighted(web):
    setup(web)
    web.create_index("alice/prod", user="alice", password="secret")
    upload(web, "alice/dev", "widget", "2.0", summary="Widget toolkit for dashboards")
    upload(web, "alice/prod", "widget", "1.0", summary="Widget toolkit for dashboards")
    web.indexed()
    page = web.page("/+search?query=dashboards")
    assert result_names(page) == ["widget"]
    assert "alice/dev" in page.text and "alice/prod" in page.text
    assert "<mark>dashboards</mark>" in page.text
    assert "/alice/dev/widget/2.0" in page.text


def test_search_within_one_index_includes_its_bases(web):
    setup(web)
    web.create_index("alice/base", user="alice", password="secret")
    web.create_index("alice/child", user="alice", password="secret", bases="alice/base")
    upload(web, "alice/base", "basepkg", summary="shared words")
    upload(web, "alice/dev", "devpkg", summary="shared words")
    web.indexed()
    assert result_names(web.page("/alice/child/+search?query=shared")) == ["basepkg"]
    assert sorted(result_names(web.page("/+search?query=shared"))) == ["basepkg", "devpkg"]


def test_docs_text_is_searchable(web):
    setup(web)
    upload(web, "alice/dev", "docpkg", summary="Has docs")
    zipped = make_docs_zip({"index.html": "<title>Guide</title><p>The zanzibar protocol.</p>",
                            "other.html": "<script>zanzibar()</script><p>nothing</p>"})
    web.upload_docs("alice/dev", zipped, name="docpkg", version="1.0", user="alice",
                    password="secret")
    web.indexed()
    page = web.page("/+search?query=zanzibar")
    assert result_names(page) == ["docpkg"]
    assert "<mark>zanzibar</mark>" in page.text
    assert "/alice/dev/docpkg/1.0/+d/index.html" in page.text
    assert "other.html" not in page.text  # text inside scripts is not indexed


def test_removal_and_push_update_the_index(web):
    setup(web)
    web.create_index("alice/prod", user="alice", password="secret")
    upload(web, "alice/dev", "movable", summary="Moves around")
    web.indexed()
    web.json("PUSH", "/alice/dev", {"name": "movable", "version": "1.0",
                                    "targetindex": "alice/prod"}, user="alice", password="secret",
             status=200)
    web.indexed()
    assert "alice/prod" in web.page("/+search?query=movable").text
    web.json("DELETE", "/alice/dev/movable", user="alice", password="secret", status=200)
    web.indexed()
    page = web.page("/+search?query=movable")
    assert "alice/prod" in page.text
    assert 'href="http://localhost/alice/dev"' not in page.text


def test_deleted_index_disappears_from_results(web):
    setup(web)
    web.create_index("alice/tmp", user="alice", password="secret")
    upload(web, "alice/tmp", "ephemeral", summary="Short-lived")
    web.indexed()
    assert result_names(web.page("/+search?query=ephemeral")) == ["ephemeral"]
    web.json("DELETE", "/alice/tmp", user="alice", password="secret", status=201)
    assert result_names(web.page("/+search?query=ephemeral")) == []
    web.indexed()
    assert web.web.search.documents_of("alice/tmp") == 0


def test_query_edge_cases_never_fail(web):
    setup(web)
    upload(web, "alice/dev", "thing")
    web.indexed()
    for query in ("", "   ", "***", 'AND OR NOT "', "<script>alert(1)</script>", "a" * 5000,
                  "thing^99", "ünïcödé", "(thing"):
        page = web.page("/+search", params={"query": query})
        assert "<script>alert(1)</script>" not in page.text
    web.page("/+search?query=thing&page=abc", status=400)
    # The JSON API has no search (as devpi-web): a JSON client gets 404.
    web.json("GET", "/+search?query=thing", status=404)


def test_recreate_rebuilds_from_the_database(web):
    setup(web)
    upload(web, "alice/dev", "rebuilt", summary="Comes back")
    web.indexed()
    from pyshelf_web.search.indexer import REBUILD

    web.web.search.recreate()
    assert result_names(web.page("/+search?query=rebuilt")) == []
    web.web.indexer.process([REBUILD])
    assert result_names(web.page("/+search?query=rebuilt")) == ["rebuilt"]


def test_results_are_paginated_by_project(web):
    setup(web)
    for n in range(23):
        upload(web, "alice/dev", f"common{n:02d}", summary="shared vocabulary here")
    web.indexed()
    first = web.page("/+search?query=vocabulary")
    assert "23 projects found" in first.text
    assert len(result_names(first)) == 20 and "Page 1 of 2" in first.text
    assert first.text.count("<mark>vocabulary</mark>") == 20
    second = web.page("/+search?query=vocabulary&page=2")
    assert len(result_names(second)) == 3
    assert not set(result_names(first)) & set(result_names(second))


MARKED_UP = {
    "text/markdown": "Say **hello** to `shelfdemo.hello`, *world_wide*.\n",
    "text/x-rst": "Say **hello** to ``shelfdemo.hello``, *world_wide*.\n",
    "text/plain": "Say __hello__ to shelfdemo.hello, world_wide.\n",
}


def test_words_are_found_however_the_description_marks_them_up(web):
    """The rendered text is indexed, split at punctuation: markup and dots hide no word."""
    setup(web)
    for number, (content_type, description) in enumerate(MARKED_UP.items()):
        upload(web, "alice/dev", f"marked-{number}", summary="Marked up",
               description=description, description_content_type=content_type)
    web.indexed()
    everyone = {f"marked-{number}" for number in range(len(MARKED_UP))}
    for word in ("hello", "shelfdemo", "world", "wide"):
        assert set(result_names(web.page(f"/+search?query={word}"))) == everyone, word
    # No markup in what the page shows of the description.
    page = web.page("/+search?query=hello").text
    assert "**" not in page and "``" not in page and "__hello" not in page


def test_q_is_the_query_too(web):
    setup(web)
    upload(web, "alice/dev", "frobnicator", summary="Frobs")
    web.indexed()
    assert result_names(web.page("/+search?q=frobnicator")) == ["frobnicator"]
    assert result_names(web.page("/alice/dev/+search?q=frobnicator")) == ["frobnicator"]
