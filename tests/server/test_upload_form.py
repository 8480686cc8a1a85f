"""The multipart reader of legacy uploads, without HTTP."""

import hashlib
import io

import pytest

from pyshelf_server.responses import APIError
from pyshelf_server.storage.files import FileStore
from pyshelf_server.upload import form as form_module
from pyshelf_server.upload.form import read_upload_form

BOUNDARY = "xYzZY"


def body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data
        out += b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def read(data: bytes, store: FileStore, max_file_size: int = 10**6):
    return read_upload_form(
        io.BytesIO(data),
        content_type=f'multipart/form-data; boundary="{BOUNDARY}"',
        content_length=len(data),
        files=store,
        max_file_size=max_file_size,
    )


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path / "files")


def test_fields_and_the_content_file(store):
    content = b"wheel bytes" * 1000
    form = read(
        body(
            (":action", None, b"file_upload"),
            ("classifiers", None, b"A"),
            ("classifiers", None, b"B"),
            ("content", "pkg-1.0.tar.gz", content),
            ("gpg_signature", "pkg-1.0.tar.gz.asc", b"signature"),
            ("description", None, "caf\u00e9".encode()),
        ),
        store,
    )
    assert form.fields[":action"] == ["file_upload"]
    assert form.fields["classifiers"] == ["A", "B"]
    assert form.fields["description"] == ["caf\u00e9"]
    assert "gpg_signature" not in form.fields
    assert form.content.filename == "pkg-1.0.tar.gz"
    assert form.content.sha256 == hashlib.sha256(content).hexdigest()
    assert form.content.path.read_bytes() == content
    form.discard()
    assert not form.content.path.exists()


def test_a_body_without_its_closing_boundary_keeps_nothing(store):
    with pytest.raises(APIError) as raised:
        read(body(("content", "pkg-1.0.tar.gz", b"half a file"), close=False), store)
    assert raised.value.status == 400 and "truncated" in str(raised.value)
    assert list(store.tmpdir.iterdir()) == []


def test_a_file_over_the_limit_is_413_and_keeps_nothing(store):
    with pytest.raises(APIError) as raised:
        read(body(("content", "pkg-1.0.tar.gz", b"x" * 2000)), store, max_file_size=1000)
    assert raised.value.status == 413
    assert list(store.tmpdir.iterdir()) == []


def test_a_huge_field_is_413(store, monkeypatch):
    monkeypatch.setattr(form_module, "MAX_FIELD_BYTES", 100)
    with pytest.raises(APIError) as raised:
        read(body(("description", None, b"d" * 101)), store)
    assert raised.value.status == 413


def test_garbage_is_400(store):
    with pytest.raises(APIError) as raised:
        read(b"this is not multipart at all", store)
    assert raised.value.status == 400
