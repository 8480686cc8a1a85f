"""Every malformed request gets a clear 4xx, never a 500, and leaves nothing behind."""

import pytest

from pyshelf_server.testing import make_wheel


@pytest.fixture
def dev(shelf):
    shelf.create_index("root/dev")
    return shelf


def stored_blobs(shelf):
    root = shelf.app.registry.pyshelf.files.root
    return sorted(p.name for p in root.glob("??/*") if p.is_file())


@pytest.mark.parametrize(
    ("fields", "filename", "reason"),
    [
        ({"name": "pkg", "version": "1.0"}, "pkg-1.0.exe", "not a valid archive name"),
        (
            {"name": "pkg", "version": "1.0"},
            "other-1.0-py3-none-any.whl",
            "does not match project name",
        ),
        ({"name": "pkg", "version": "1.0"}, "pkg-2.0-py3-none-any.whl", "does not contain version"),
        ({"name": "pkg", "version": "1.0"}, "../pkg-1.0-py3-none-any.whl", None),
        ({"name": "../etc", "version": "1.0"}, "pkg-1.0-py3-none-any.whl", "invalid metadata"),
        ({"name": "pkg", "version": "<script>"}, "pkg-1.0-py3-none-any.whl", "invalid metadata"),
        ({"version": "1.0"}, "pkg-1.0-py3-none-any.whl", "missing name"),
        ({"name": "pkg"}, "pkg-1.0-py3-none-any.whl", "missing version"),
        ({"name": "pkg", "version": "1.0"}, "pkg-1.0-py3-none-any.whl%00.txt", None),
    ],
)
def test_bad_uploads(dev, fields, filename, reason):
    _, content = make_wheel("pkg", "1.0")
    form = [(":action", "file_upload"), *fields.items()]
    response = dev.test.post(
        "/root/dev/",
        form,
        upload_files=[("content", filename, content)],
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400, response.status
    if reason:
        assert reason in response.status
    assert stored_blobs(dev) == []
    assert dev.json("GET", "/root/dev").json["result"]["projects"] == []


def test_a_wheel_that_is_not_a_zip(dev):
    response = dev.test.post(
        "/root/dev/",
        [(":action", "file_upload"), ("name", "pkg"), ("version", "1.0")],
        upload_files=[("content", "pkg-1.0-py3-none-any.whl", b"garbage")],
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400
    assert stored_blobs(dev) == []


def test_missing_action_or_content(dev):
    response = dev.test.post(
        "/root/dev/",
        [("name", "pkg")],
        upload_files=[("content", "x.whl", b"x")],
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400
    response = dev.test.post(
        "/root/dev/",
        {":action": "fly", "name": "pkg"},
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status == "400 action 'fly' not supported"
    response = dev.test.post(
        "/root/dev/",
        {":action": "file_upload", "name": "pkg", "version": "1"},
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400


def test_truncated_multipart_body(dev):
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="content"; '
        b'filename="pkg-1.0.tar.gz"\r\n\r\nabc'
    )
    response = dev.test.post(
        "/root/dev/",
        body,
        content_type="multipart/form-data; boundary=xyz",
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert 400 <= response.status_int < 500
    assert stored_blobs(dev) == []


def test_too_large_upload(make_app):
    from pyshelf_server.testing import Shelf

    shelf = Shelf(make_app(max_upload_size=1000))
    shelf.create_index("root/dev")
    filename, content = make_wheel("pkg", "1.0", description="x" * 5000)
    content = content + b"\0" * 2000
    response = shelf.upload("root/dev", filename, content, name="pkg", version="1.0", status=413)
    assert response.status_int == 413
    assert stored_blobs(shelf) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "/root/x", b"{not json", 400),
        ("PATCH", "/root/dev", b"{not json", 400),
        ("PATCH", "/root/dev", b"", 400),
        ("PATCH", "/root/dev", b"42", 400),
        ("PUT", "/root/x", b"[1]", 400),
        ("POST", "/+login", b"\xff\xfe", 400),
        ("PUSH", "/root/dev", b"{}", 400),
        ("PUSH", "/root/dev", b'{"name": "x", "version": "1", "targetindex": "nope"}', 400),
        (
            "PUSH",
            "/root/dev",
            b'{"name": "x", "version": "1", "targetindex": "root/dev", "extra": 1}',
            400,
        ),
        ("GET", "/nobody/nothing", b"", 404),
        ("GET", "/root/nothing/+simple/", b"", 404),
        ("GET", "/root/dev/+simple/nothing/", b"", 404),
        ("GET", "/root/dev/+f/abc/def/nothing.whl", b"", 404),
        ("DELETE", "/root/dev/nothing/1.0", b"", 404),
        ("GET", "/root/dev/pkg/1.0/../../../etc", b"", 404),
        ("POST", "/root/dev/+f/abc/def/x.whl", b"{}", 404),
        ("GET", "/+nothing", b"", 404),
        # JSON that decodes but cannot be stored or answered again.
        ("PUT", "/root/x", b"[" * 5000 + b"]" * 5000, 400),
        ("POST", "/+login", b"[" * 5000 + b"]" * 5000, 400),
        ("POST", "/+login", b'{"user": "\\udfff", "password": "\\ud800"}', 400),
        ("PUT", "/someone", b'{"password": "x", "email": "\\ud800"}', 400),
        ("PUT", "/root/x", b'{"\\ud800": 1}', 400),
        ("PATCH", "/root/dev", b'["acl_upload+=\\ud800"]', 400),
        ("PUSH", "/root/dev", b'{"name": "x", "version": "1", "targetindex": "root/\\ud800"}', 400),
        ("PUT", "/someone", b'{"password": "x", "custom_data": NaN}', 400),
        ("PATCH", "/root", b'{"custom_data": 1e999}', 400),
        ("PUT", "/someone", b'{"password": "x", "email": "a\\u0000b"}', 400),
        ("PUT", "/root/x", b'{"type": ["mirror"]}', 400),
        ("PUT", "/root/x", b'{"type": 5}', 400),
        # Messages quoting input stay on one line.
        ("PUSH", "/root/dev", b'{"\\r\\nX-Injected": 1}', 400),
        ("PUT", "/root/x", b'{"bad\\nkey": "\\n"}', 400),
    ],
)
def test_malformed_api_requests(dev, method, path, body, status):
    response = dev.test.request(
        path,
        method=method,
        body=body,
        headers={
            **dev.auth("root"),
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
        expect_errors=True,
    )
    assert response.status_int == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert (
        isinstance(response.json["message"], str) and "\n" not in response.json["message"].strip()
    )


def test_non_ascii_project_name_on_simple_page(dev):
    response = dev.test.get("/root/dev/+simple/p%C3%A4ckage/", expect_errors=True)
    assert response.status_int == 400


def test_answers_with_lone_surrogates_are_still_json():
    import json

    from pyshelf_server.responses import dump_json

    assert json.loads(dump_json({"message": "bad \ud800"})) == {"message": "bad \ud800"}


def test_a_failed_flush_still_answers_json_with_devpi_headers(dev, monkeypatch):
    from pyshelf_server.accounts import services

    monkeypatch.setattr(services, "hash_password", lambda password: "\ud800")
    response = dev.json("PUT", "/someone", {"password": "x"}, user="root", status=500)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Devpi-Api-Version"] == "2"
    assert int(response.headers["X-Devpi-Serial"]) >= 0
    dev.json("GET", "/someone", status=404)


def test_a_failed_commit_answers_503_and_stores_nothing(dev, monkeypatch):
    from pyshelf_server.unit_of_work import UnitOfWork

    real_commit = UnitOfWork.commit

    def failing_commit(uow):
        if uow.writing and uow.opened:
            uow.rollback()
            raise RuntimeError("disk full")
        return real_commit(uow)

    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    response = dev.json("PUT", "/someone", {"password": "x"}, user="root", status=503)
    assert response.headers["Content-Type"] == "application/json"
    assert response.json["message"] == "the change could not be stored, try again"
    assert response.headers["X-Devpi-Api-Version"] == "2"
    monkeypatch.setattr(UnitOfWork, "commit", real_commit)
    dev.json("GET", "/someone", status=404)


def test_a_refused_different_reupload_leaves_no_blob(dev):
    dev.create_index("root/prod", volatile=False)
    filename, content = make_wheel("pkg", "1.0")
    dev.upload("root/prod", filename, content, name="pkg", version="1.0")
    before = stored_blobs(dev)
    _, other = make_wheel("pkg", "1.0", summary="different")
    response = dev.upload("root/prod", filename, other, name="pkg", version="1.0", status=409)
    assert response.status == f"409 {filename} already exists in non-volatile index"
    # Neither the refused wheel nor its extracted METADATA stays in the store.
    assert stored_blobs(dev) == before
    dev.upload("root/prod", filename, content, name="pkg", version="1.0")
    assert stored_blobs(dev) == before


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/%E7%94%A8/dev/Pkg_Name?ignore_bases=", "/%E7%94%A8/dev/pkg-name?ignore_bases="),
        ("/%E7%94%A8/dev/Pkg_Name/1.0", "/%E7%94%A8/dev/pkg-name/1.0"),
        ("/%E7%94%A8/dev/+simple?x=1", "/%E7%94%A8/dev/+simple/?x=1"),
        ("/%E7%94%A8/dev/+simple/Pkg_Name/?x=1", "/%E7%94%A8/dev/+simple/pkg-name/?x=1"),
        ("/%E7%94%A8/dev/+simple/pkg", "/%E7%94%A8/dev/+simple/pkg/"),
    ],
)
def test_redirects_are_percent_encoded_and_keep_the_query(shelf, path, location):
    # A user name a header cannot carry as text.
    shelf.create_user("%E7%94%A8", "pw")
    shelf.create_index("%E7%94%A8/dev", user="\u7528", password="pw")
    response = shelf.test.get(path, status=302)
    assert response.headers["Location"] == "http://localhost" + location


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_a_metadata_bomb_is_refused_before_it_is_read(dev, kind):
    """A few KB of gzip can hold megabytes of PKG-INFO; reading it whole cost the server
    about ten times the metadata's size in memory."""
    import io
    import tarfile
    import zipfile

    metadata = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\nSummary: " + b"a" * 6_000_000
    buffer = io.BytesIO()
    if kind == "wheel":
        filename = "bomb-1.0-py3-none-any.whl"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bomb-1.0.dist-info/METADATA", metadata)
    else:
        filename = "bomb-1.0.tar.gz"
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            member = tarfile.TarInfo("bomb-1.0/PKG-INFO")
            member.size = len(metadata)
            archive.addfile(member, io.BytesIO(metadata))
    assert len(buffer.getvalue()) < 100_000
    response = dev.upload(
        "root/dev", filename, buffer.getvalue(), name="bomb", version="1.0", status=400
    )
    assert "is larger than the allowed" in response.status
    assert stored_blobs(dev) == []


@pytest.mark.parametrize("ending", [b"", b"\r\n--xyz", b"\r\n--xyz\r\n"])
def test_a_multipart_body_cut_in_the_file_stores_nothing(dev, ending):
    """WebOb parses a body without its closing boundary as complete: half an sdist was
    stored and answered 200."""
    from pyshelf_server.testing import make_sdist

    filename, content = make_sdist("cut", "1.0", description="y" * 5000)
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\ncut\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="content"; filename="'
        + filename.encode()
        + b'"\r\n\r\n'
        + content[: len(content) // 2]
        + ending
    )
    response = dev.test.request(
        "/root/dev/",
        method="POST",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=xyz", **dev.auth("root")},
        expect_errors=True,
    )
    assert response.status == "400 truncated multipart form data: the closing boundary is missing"
    assert stored_blobs(dev) == []
    assert dev.json("GET", "/root/dev").json["result"]["projects"] == []


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_a_path_that_is_not_utf8_is_a_400(dev, method):
    # POST /%ff once raised while the request's unit of work was set up (a 500).
    response = dev.json(method, "/root/%ff", status=400)
    assert response.json["message"] == "the path must be UTF-8 (percent-encoded)"


def test_nul_characters_never_reach_the_database(dev):
    """SQLite stores NUL, PostgreSQL refuses it in any text parameter (a 500 there)."""
    import base64
    import io
    import tarfile

    response = dev.json("GET", "/root%00x", status=400)
    assert response.json["message"] == "the path must not contain NUL"
    dev.json("GET", "/root/dev/%00/1.0", status=400)
    # Credentials naming a user with NUL are bad credentials: anonymous.
    auth = base64.b64encode(b"root\x00:x").decode()
    api = dev.json("GET", "/+api", headers={"X-Devpi-Auth": auth}).json["result"]
    assert api["authstatus"] == ["noauth", "", []]
    response = dev.test.post(
        "/root/dev/",
        {":action": "submit", "name": "pkg", "version": "1.0\x00"},
        headers=dev.auth("root"),
        expect_errors=True,
    )
    assert response.status_int == 400 and "invalid metadata" in response.status
    # Metadata read from the file loses its NUL characters.
    metadata = b"Metadata-Version: 2.1\nName: nul\nVersion: 1.0\nSummary: a\x00b\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("nul-1.0/PKG-INFO")
        member.size = len(metadata)
        archive.addfile(member, io.BytesIO(metadata))
    dev.upload("root/dev", "nul-1.0.tar.gz", buffer.getvalue(), name="nul", version="1.0")
    assert dev.json("GET", "/root/dev/nul/1.0").json["result"]["summary"] == "ab"
