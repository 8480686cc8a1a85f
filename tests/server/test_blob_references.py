"""Blobs are shared between hosted files and mirrors: one is removed only when nothing refers
to it any more."""

import hashlib

from pyshelf_server.mirror.models import MirrorFile
from pyshelf_server.testing import make_wheel


def add_mirrored_copy(shelf, index_name, filename, content):
    app = shelf.app.registry.pyshelf
    blob = app.files.put_bytes(content)
    with app.database.writing() as uow:
        session = uow.session
        index_id = app.registry.snapshot(session, _config_token(session)).get(index_name).id
        session.add(
            MirrorFile(
                index_id=index_id,
                project="pkg",
                filename=filename,
                key=blob.sha256[:16],
                sha256=blob.sha256,
                size=blob.size,
                url=f"http://upstream.example/files/{filename}",
            )
        )
    return blob.sha256


def _config_token(session):
    from pyshelf_server.db import read_state

    return read_state(session)[2]


def test_deleting_a_hosted_file_keeps_a_blob_the_mirror_uses(shelf):
    shelf.create_index("root/dev")
    shelf.create_index("root/upstream", type="mirror", mirror_url="http://upstream.example/simple/")
    filename, content = make_wheel("pkg", "1.0")
    sha = add_mirrored_copy(shelf, "root/upstream", filename, content)
    shelf.upload("root/dev", filename, content, name="pkg", version="1.0")
    shelf.json("DELETE", "/root/dev/pkg/1.0", user="root")
    files = shelf.app.registry.pyshelf.files
    assert files.exists(sha)
    # Deleting the mirror index releases its files too.
    shelf.json("PATCH", "/root/upstream", ["volatile=True"], user="root")
    shelf.json("DELETE", "/root/upstream", user="root", status=201)
    assert not files.exists(sha)
    assert sha == hashlib.sha256(content).hexdigest()


def test_deleting_a_user_removes_the_blobs_of_their_indexes(shelf):
    shelf.create_user("alice")
    shelf.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("gone", "1.0")
    shelf.upload(
        "alice/dev", filename, content, name="gone", version="1.0", user="alice", password="secret"
    )
    files = shelf.app.registry.pyshelf.files
    sha = hashlib.sha256(content).hexdigest()
    assert files.exists(sha)
    shelf.json("DELETE", "/alice", user="root")
    assert not files.exists(sha)


def test_an_identical_reupload_to_a_volatile_index_keeps_the_blob(shelf):
    """The old row was dropped (and its blob found unused) before the new row with the same
    content was added: the file's bytes and metadata were deleted after the commit."""
    shelf.create_index("root/dev")
    filename, content = make_wheel("same", "1.0")
    shelf.upload("root/dev", filename, content, name="same", version="1.0")
    shelf.upload("root/dev", filename, content, name="same", version="1.0")
    files = shelf.app.registry.pyshelf.files
    assert files.exists(hashlib.sha256(content).hexdigest())
    link = shelf.json("GET", "/root/dev/same/1.0").json["result"]["+links"][0]["href"]
    path = link.removeprefix("http://localhost")
    assert shelf.test.get(path).body == content
    assert shelf.test.get(path + ".metadata").status_int == 200


def test_cleanup_of_a_failed_upload_keeps_a_blob_another_upload_committed(shelf):
    from pyshelf_server.storage.references import discard_unreferenced

    shelf.create_index("root/dev")
    app = shelf.app.registry.pyshelf
    filename, content = make_wheel("twice", "1.0")
    # Upload A stored the bytes first (and will fail); upload B of the same bytes commits.
    first = app.files.put_bytes(content)
    assert first.created
    shelf.upload("root/dev", filename, content, name="twice", version="1.0")
    discard_unreferenced(app.database, app.files, [first.sha256])
    assert app.files.exists(first.sha256)
    assert (
        shelf.test.get(
            shelf.json("GET", "/root/dev/twice/1.0")
            .json["result"]["+links"][0]["href"]
            .replace("http://localhost", "")
        ).body
        == content
    )


def test_an_upload_whose_blob_vanished_is_refused_not_recorded(shelf):
    from pyshelf_server.packages.services import PackageService
    from pyshelf_server.storage.references import discard_unreferenced
    from pyshelf_server.upload.services import UploadService, prepare_release

    shelf.create_index("root/dev")
    app = shelf.app.registry.pyshelf
    filename, content = make_wheel("vanish", "1.0")
    app.files.put_bytes(content)  # upload A's bytes
    uow = app.database.unit_of_work(write=True)
    uploads = UploadService(PackageService(uow, app.files), app.files)
    import io

    from pyshelf_server.upload.form import receive_stream

    prepared = prepare_release(
        app.files,
        uow,
        name="vanish",
        version="1.0",
        filename=filename,
        received=receive_stream(app.files, filename, io.BytesIO(content), 10**7),
        form_meta={},
        fields={},
    )
    assert not prepared.blob.created  # B found A's blob
    discard_unreferenced(app.database, app.files, [prepared.blob.sha256])  # A fails, cleans up
    from pyshelf_server.indexes.services import IndexService
    from pyshelf_server.responses import APIError

    index = IndexService(uow, app).require("root", "dev")
    try:
        uploads.store_release(index, prepared, "root")
    except APIError as error:
        assert error.status == 503
    else:
        raise AssertionError("the upload was recorded without its bytes")
    uow.rollback()
    shelf.json("GET", "/root/dev/vanish", status=404)
