"""Blobs are shared between hosted files and mirrors: one is removed only when nothing refers
to it any more."""

import hashlib

from pyshelf_server.mirror.models import MirrorFile
from pyshelf_server.testing import make_wheel


def add_mirrored_copy(shelf, index_name, filename, content):
    app = shelf.app.registry.pyshelf
    blob = app.files.put_bytes(content)
    session = app.sessions(write=True)
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
    session.commit()
    session.close()
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
