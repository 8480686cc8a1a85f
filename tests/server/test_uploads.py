"""The legacy upload protocol: what is stored, overwrite rules, docs, registration."""

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import event

from pyshelf_server.testing import make_sdist, make_wheel


@pytest.fixture
def dev(shelf):
    shelf.create_index("root/dev")
    shelf.create_index("root/prod", volatile=False)
    return shelf


def test_upload_answers_exactly_200_with_empty_body(dev):
    filename, content = make_wheel("pkg", "1.0", summary="A package", requires_python=">=3.9")
    response = dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    assert response.status == "200 OK"
    assert response.body == b""
    version = dev.json("GET", "/root/dev/pkg/1.0").json["result"]
    # Metadata comes from the file itself when the form does not send it.
    assert version["summary"] == "A package"
    assert version["requires_python"] == ">=3.9"
    assert version["classifiers"] == []
    link = version["+links"][0]
    assert (
        link["href"] == f"http://localhost/root/dev/+f/{hashlib.sha256(content).hexdigest()[:3]}/"
        f"{hashlib.sha256(content).hexdigest()[3:16]}/{filename}"
    )
    assert link["log"][0]["what"] == "upload" and link["log"][0]["who"] == "root"


def test_form_metadata_wins_over_missing_file_metadata(dev):
    filename, content = make_sdist("pkg", "1.0")
    dev.upload(
        "root/dev", filename, content, name="pkg", version="1.0", summary="from form", license="MIT"
    )
    version = dev.json("GET", "/root/dev/pkg/1.0").json["result"]
    assert version["summary"] == "from form"
    assert version["license"] == "MIT"


def test_volatile_index_overwrites_and_logs(dev):
    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    _, other = make_wheel("pkg", "1.0", summary="changed")
    dev.upload("root/dev", filename, other, name="pkg", version="1.0")
    link = dev.json("GET", "/root/dev/pkg/1.0").json["result"]["+links"][0]
    assert link["hashes"]["sha256"] == hashlib.sha256(other).hexdigest()
    assert link["log"][-1]["what"] == "overwrite" and link["log"][-1]["count"] == 1
    # The old content's URL is gone.
    old = hashlib.sha256(content).hexdigest()
    dev.test.get(f"/root/dev/+f/{old[:3]}/{old[3:16]}/{filename}", status=410)


def test_non_volatile_accepts_identical_and_refuses_different(dev):
    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/prod", filename, content, name="pkg", version="1.0")
    response = dev.upload("root/prod", filename, content, name="pkg", version="1.0")
    assert response.status == "200 Upload of identical file to non volatile index."
    _, other = make_wheel("pkg", "1.0", summary="different")
    response = dev.upload("root/prod", filename, other, name="pkg", version="1.0", status=409)
    assert response.status == f"409 {filename} already exists in non-volatile index"


def test_register_creates_version_without_files(dev):
    dev.test.post(
        "/root/dev/",
        {":action": "submit", "name": "pkg", "version": "2.0", "summary": "s"},
        headers=dev.auth("root"),
        status=200,
    )
    assert dev.json("GET", "/root/dev/pkg/2.0").json["result"]["summary"] == "s"


def test_doc_upload_uses_latest_version(dev):
    import io
    import zipfile

    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docs:
        docs.writestr("index.html", "<h1>docs</h1>")
    dev.test.post(
        "/root/dev/",
        [(":action", "doc_upload"), ("name", "pkg")],
        upload_files=[("content", "pkg-1.0.doc.zip", buffer.getvalue())],
        headers=dev.auth("root"),
        status=200,
    )
    links = dev.json("GET", "/root/dev/pkg/1.0").json["result"]["+links"]
    assert [link["rel"] for link in links] == ["releasefile", "doczip"]
    # Docs are not release files: not on the simple page.
    assert "doc.zip" not in dev.test.get("/root/dev/+simple/pkg/").text


def test_doc_upload_needs_a_zip_and_a_version(dev):
    response = dev.test.post(
        "/root/dev/",
        [(":action", "doc_upload"), ("name", "nothing")],
        upload_files=[("content", "x.zip", b"PK")],
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400
    assert "no releases" in response.status
    dev.upload("root/dev", *make_wheel("pkg", "1.0"), name="pkg", version="1.0")
    response = dev.test.post(
        "/root/dev/",
        [(":action", "doc_upload"), ("name", "pkg"), ("version", "1.0")],
        upload_files=[("content", "x.zip", b"not a zip")],
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400


def first_file_entry(dev, project):
    """The first file of the project's PEP 691 simple page."""
    page = dev.test.get(
        f"/root/dev/+simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json
    return page["files"][0]


def test_core_metadata_is_extracted_from_wheels(dev):
    filename, content = make_wheel("pkg", "1.0", summary="meta!")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    entry = first_file_entry(dev, "pkg")
    metadata_url = "/" + entry["url"].replace("../", "") + ".metadata"
    body = dev.test.get(metadata_url).body
    assert b"Summary: meta!" in body
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(body).hexdigest()}


def test_digests_are_checked_when_sent(dev):
    filename, content = make_wheel("pkg", "1.0")
    response = dev.upload(
        "root/dev", filename, content, name="pkg", version="1.0", sha256_digest="0" * 64, status=400
    )
    assert "sha256_digest" in response.status
    dev.upload(
        "root/dev",
        filename,
        content,
        name="pkg",
        version="1.0",
        status=400,
        blake2_256_digest="0" * 64,
    )
    dev.upload(
        "root/dev",
        filename,
        content,
        name="pkg",
        version="1.0",
        sha256_digest=hashlib.sha256(content).hexdigest(),
        md5_digest=hashlib.md5(content).hexdigest(),
        blake2_256_digest=hashlib.blake2b(content, digest_size=32).hexdigest(),
    )


def test_tox_results_are_stored_next_to_their_file(dev):
    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    sha = hashlib.sha256(content).hexdigest()
    url = f"/root/dev/+f/{sha[:3]}/{sha[3:16]}/{filename}"
    # tox results may be posted anonymously by default (acl_toxresult_upload).
    response = dev.json("POST", url, {"testenvs": {"py311": {"test": [{"retcode": 0}]}}})
    assert response.json["type"] == "toxresultpath"
    assert f"{filename}.toxresult-" in response.json["result"]
    links = dev.json("GET", "/root/dev/pkg/1.0").json["result"]["+links"]
    result = next(link for link in links if link["rel"] == "toxresult")
    assert result["for_href"].endswith(url)
    dev.json("POST", url, [1, 2], status=400)
    dev.json("PATCH", "/root/dev", ["acl_toxresult_upload=root"], user="root")
    dev.json("POST", url, {"x": 1}, status=401)


def test_lost_core_metadata_is_extracted_again(dev):
    filename, content = make_wheel("pkg", "1.0", summary="again")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    entry = first_file_entry(dev, "pkg")
    files = dev.app.registry.pyshelf.files
    files.remove(entry["core-metadata"]["sha256"])  # as if a crash lost the unsynced blob
    body = dev.test.get("/" + entry["url"].replace("../", "") + ".metadata").body
    assert b"Summary: again" in body
    assert hashlib.sha256(body).hexdigest() == entry["core-metadata"]["sha256"]


def test_each_upload_reports_the_serial_it_committed(dev):
    start = int(dev.json("GET", "/+api").headers["X-Devpi-Serial"])
    serials = []
    for version in ("1.0", "1.1"):
        filename, content = make_wheel("pkg", version)
        response = dev.upload("root/dev", filename, content, name="pkg", version=version)
        serials.append(int(response.headers["X-Devpi-Serial"]))
    assert serials == [start + 1, start + 2]
    assert int(dev.json("GET", "/+api").headers["X-Devpi-Serial"]) == start + 2


def test_second_file_of_a_version_merges_into_its_metadata(dev):
    wheel_name, wheel = make_wheel("Pkg.Name", "2.0", summary="from wheel", requires_python=">=3.8")
    dev.upload("root/dev", wheel_name, wheel, name="Pkg.Name", version="2.0")
    sdist_name, sdist = make_sdist("Pkg.Name", "2.0")
    dev.upload("root/dev", sdist_name, sdist, name="Pkg.Name", version="2.0", license="MIT")
    version = dev.json("GET", "/root/dev/pkg-name/2.0").json["result"]
    # The project keeps the name it was first uploaded with.
    assert version["name"] == "Pkg.Name"
    assert version["summary"] == "from wheel"
    assert version["license"] == "MIT"
    assert sorted(link["href"].rsplit("/", 1)[1] for link in version["+links"]) == sorted(
        [wheel_name, sdist_name]
    )
    page = dev.test.get("/root/dev/+simple/pkg-name/", headers={"Accept": "text/html"}).text
    # The page built before the sdist arrived is not served from a stale cache.
    assert wheel_name in page and sdist_name in page
    assert 'data-requires-python="&gt;=3.8"' in page


def test_a_deleted_file_uploaded_again_is_no_longer_gone(dev):
    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    sha = hashlib.sha256(content).hexdigest()
    url = f"/root/dev/+f/{sha[:3]}/{sha[3:16]}/{filename}"
    dev.json("DELETE", "/root/dev/pkg/1.0", user="root")
    dev.test.get(url, status=410)
    dev.upload("root/dev", filename, content, name="pkg", version="1.0")
    assert dev.test.get(url).body == content


CHECKPOINT_PAGES = 20


@pytest.mark.sqlite_only
def test_steady_uploads_let_sqlite_start_its_wal_over(dev):
    # An upload's read transaction used to stay open through the shared commit; the commit's
    # checkpoint then always stopped short of it, and the WAL file grew with every upload.
    services = dev.app.registry.pyshelf
    engine = services.engine
    engine.dispose()
    event.listen(
        engine,
        "connect",
        lambda connection, _record: connection.execute(
            f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}"
        ),
    )
    wal = Path(services.settings.serverdir) / "pyshelf.sqlite3-wal"
    for number in range(40):
        filename, content = make_wheel("steady", f"1.{number}")
        dev.upload("root/dev", filename, content, name="steady", version=f"1.{number}")
    page_size = 4096
    # Each upload adds some ten pages; restarted WAL holds at most a checkpoint's worth and one
    # commit more, a never restarted one all 40 uploads' pages.
    assert wal.stat().st_size < 3 * CHECKPOINT_PAGES * page_size


def test_an_upload_into_an_existing_version_sends_each_statement_once(dev):
    # The file is looked up once (to check the overwrite rules), the project's change token is
    # written once, and the rows go in one flush: no statement is repeated.
    wheel_name, wheel = make_wheel("pkg", "1.0")
    dev.upload("root/dev", wheel_name, wheel, name="pkg", version="1.0")
    engine = dev.app.registry.pyshelf.engine
    sent = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        sent.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        sdist_name, sdist = make_sdist("pkg", "1.0")
        dev.upload("root/dev", sdist_name, sdist, name="pkg", version="1.0")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [s for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert sorted(writes) == sorted(
        [
            "INSERT INTO files",
            "UPDATE projects SET",
            "DELETE FROM deleted_files",
            "UPDATE server_state SET",
        ]
    )
    file_lookups = [s for s in sent if s.startswith("SELECT files.id")]
    assert len(file_lookups) == 1
