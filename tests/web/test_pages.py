"""The pages: root, user, index, project and version, and what they show."""

from __future__ import annotations

from pyshelf_server.testing import make_sdist, make_wheel

from .conftest import BROWSER


def setup_alice(web):
    web.create_user("alice", title="Alice", description="Builds things")
    web.create_index("alice/dev", user="alice", password="secret",
                     description="Alice's development index")
    return web


def upload(web, index, name, version, user="alice", password="secret", **meta):
    filename, content = make_wheel(name, version, **meta)
    response = web.upload(index, filename, content, name=name, version=version, user=user,
                          password=password)
    assert response.status_int == 200, response.status
    return filename


def test_root_lists_users_and_indexes(web):
    setup_alice(web)
    page = web.page("/")
    assert page.content_type == "text/html"
    assert "alice/dev" in page.text
    assert "Alice&#39;s development index" in page.text
    assert 'name="query"' in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Accept" in page.headers["Vary"]


def test_json_clients_still_get_json(web):
    setup_alice(web)
    assert web.json("GET", "/").json["type"] == "list:userconfig"
    assert web.json("GET", "/alice/dev").json["type"] == "indexconfig"
    # An installer gets the simple page, not HTML for browsers.
    simple = web.test.get("/alice/dev", headers={"User-Agent": "pip/24.0"})
    assert "<title>" not in simple.text or "Simple" in simple.text or simple.status_int == 200


def test_user_page(web):
    setup_alice(web)
    page = web.page("/alice")
    assert "alice/dev" in page.text and "Builds things" in page.text
    web.page("/nobody", status=404)


def test_index_page_own_and_inherited_projects(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/base", user="alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret", bases="alice/base")
    upload(web, "alice/base", "base-only", "1.0", summary="From the base")
    upload(web, "alice/dev", "own-project", "2.0", summary="Mine")
    web.indexed()
    page = web.page("/alice/dev")
    assert "own-project" in page.text
    assert "base-only" in page.text
    assert "from alice/base" in page.text
    assert "From the base" in page.text  # summary from the search index's stored fields
    assert 'href="http://localhost/alice/base"' in page.text


def test_index_page_paginates(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    for n in range(105):
        upload(web, "alice/dev", f"pkg{n:03d}", "1.0")
    first = web.page("/alice/dev")
    assert "pkg000" in first.text and "pkg104" not in first.text
    assert "Page 1 of 2" in first.text
    second = web.page("/alice/dev?page=2")
    assert "pkg104" in second.text and "pkg000" not in second.text
    web.page("/alice/dev?page=3", status=404)
    assert "positive integer" in web.page("/alice/dev?page=x", status=400).text
    web.page("/alice/dev?page=0", status=400)


def test_project_page_versions_newest_first_with_origin(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/base", user="alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret", bases="alice/base")
    for version in ("1.0", "1.10", "1.9", "2.0rc1"):
        upload(web, "alice/dev", "Hello.World", version)
    upload(web, "alice/base", "Hello.World", "0.5")
    page = web.page("/alice/dev/hello-world")
    text = page.text
    order = [text.index(f">{v}</a>") for v in ("2.0rc1", "1.10", "1.9", "1.0", "0.5")]
    assert order == sorted(order)
    assert "alice/base" in text
    # Not normalised: redirect, as the JSON API does.
    redirect = web.page("/alice/dev/Hello.World", status=302)
    assert redirect.location.endswith("/alice/dev/hello-world")
    web.page("/alice/dev/nothing-here", status=404)


def test_yanked_version_is_marked(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    filename = upload(web, "alice/dev", "gone", "1.0")
    upload(web, "alice/dev", "gone", "2.0")
    from pyshelf_server.packages.models import File

    with web.app.registry.pyshelf.database.writing() as uow:
        row = uow.session.query(File).filter_by(filename=filename).one()
        row.yanked, row.yanked_reason = True, "broken"
    page = web.page("/alice/dev/gone")
    assert "yanked" in page.text
    assert page.text.count("badge-yanked") == 1


def test_version_page_metadata_files_and_downloads(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    filename = upload(
        web, "alice/dev", "Fancy_Lib", "1.2.0", summary="A fancy library",
        requires_python=">=3.9", description="# Fancy\n\nSome **bold** text.",
        requires_dist=["requests>=2", "rich; extra == 'cli'"],
        extra={"Author": "Alice Example", "License": "MIT",
               "Classifier": "Programming Language :: Python :: 3",
               "Project-URL": "Source, https://example.invalid/src"},
    )
    # The last upload's metadata wins: the sdist carries the same description.
    sdist, content = make_sdist("Fancy_Lib", "1.2.0", summary="A fancy library",
                                description="# Fancy\n\nSome **bold** text.")
    web.upload("alice/dev", sdist, content, name="Fancy_Lib", version="1.2.0", user="alice",
               password="secret")
    href = web.json("GET", "/alice/dev/fancy-lib/1.2.0").json["result"]["+links"][0]["href"]
    web.test.get(href.replace("http://localhost", ""))
    web.test.get(href.replace("http://localhost", ""))
    web.flush_downloads()
    page = web.page("/alice/dev/fancy-lib/1.2.0")
    text = page.text
    assert "A fancy library" in text
    assert "&gt;=3.9" in text
    assert "<strong>bold</strong>" in text
    assert "requests&gt;=2" in text
    assert "Alice Example" in text and "MIT" in text
    assert 'href="https://example.invalid/src"' in text
    assert "Programming Language" in text
    assert filename in text and sdist in text
    assert "by alice" in text
    assert ">2</td>" in text  # the wheel's download count
    project = web.page("/alice/dev/fancy-lib")
    assert "Downloads</dt><dd>2</dd>" in project.text.replace("\n", "")
    web.page("/alice/dev/fancy-lib/9.9", status=404)


def test_pages_answer_head(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    response = web.test.head("/alice/dev", headers=BROWSER)
    assert response.status_int == 200
    assert response.content_type == "text/html"


def test_status_page(web):
    page = web.page("/+status")
    assert "Server status" in page.text
    assert "pyshelf-web" in page.text
    assert "Serial" in page.text
    data = web.json("GET", "/+status").json["result"]
    assert "search-index" in data
    assert any(m[0] == "pyshelf_web_search_queue_size" for m in data["metrics"])


def test_static_assets_are_served(web):
    page = web.page("/")
    import re

    css = re.search(r'href="http://localhost(/\+static-[^"]+/style\.css)"', page.text).group(1)
    response = web.test.get(css)
    assert response.content_type == "text/css"
    assert "http" not in response.text.split("*/", 1)[1]  # nothing loaded from elsewhere


def test_errors_are_pages_for_browsers_and_json_for_clients(web):
    page = web.page("/nobody/nothing", status=404)
    assert page.content_type == "text/html"
    assert "could not be found" in page.text
    assert web.json("GET", "/nobody/nothing", status=404).json["message"]


def test_people_are_names_with_mail_links_and_keywords_a_list(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    # As pyproject.toml writes them: names and addresses together in the *-email fields.
    upload(web, "alice/dev", "people-pkg", "1.0", extra={
        "Author-email": "Jane Doe <jane@example.org>, bob@example.org",
        "Maintainer": "Old Style", "Maintainer-email": "old@example.org",
        "Keywords": "alpha,beta gamma, delta",
    })
    text = web.page("/alice/dev/people-pkg/1.0").text
    assert ('<dt>Authors</dt><dd><a href="mailto:jane@example.org">Jane Doe</a>, '
            '<a href="mailto:bob@example.org">bob@example.org</a></dd>') in text
    assert ('<dt>Maintainer</dt><dd><a href="mailto:old@example.org">Old Style</a></dd>'
            in text)
    assert "&lt;Jane" not in text and "&lt;jane" not in text
    assert ('<dt>Keywords</dt><dd><ul class="keywords"><li>alpha</li><li>beta gamma</li>'
            '<li>delta</li></ul></dd>') in text
    project = web.page("/alice/dev/people-pkg").text
    assert '<a href="mailto:jane@example.org">Jane Doe</a>' in project


def test_status_page_shows_the_server_directory_only_to_root(web):
    serverdir = str(web.app.registry.pyshelf.settings.serverdir)
    web.create_user("alice", password="secret")
    assert serverdir in web.page("/+status", headers=web.auth("root")).text
    assert serverdir not in web.page("/+status").text
    assert serverdir not in web.page("/+status", headers=web.auth("alice", "secret")).text
