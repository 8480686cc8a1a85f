"""The content-addressed store: where blobs go and what is synced so that they survive a crash."""

import hashlib
import shutil

import pytest

from pyshelf_server.storage import files
from pyshelf_server.storage.files import FileStore


@pytest.fixture
def synced(monkeypatch):
    """The directories the store syncs, in order."""
    calls = []
    real = files._fsync_dir

    def recording(path):
        calls.append(path)
        real(path)

    monkeypatch.setattr(files, "_fsync_dir", recording)
    return calls


def test_a_new_store_makes_and_syncs_its_fan_out_once(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    assert sorted(p.name for p in store.root.iterdir() if p.is_dir()) == [
        *(f"{n:02x}" for n in range(256)),
        "tmp",
    ]
    assert synced == [store.root]
    synced.clear()
    FileStore(tmp_path / "files")
    assert synced == []


def test_a_blob_is_renamed_into_an_existing_directory_and_that_one_synced(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    synced.clear()
    blob = store.put_bytes(b"some release")
    assert store.path(blob.sha256) == store.root / blob.sha256[:2] / blob.sha256
    assert store.path(blob.sha256).read_bytes() == b"some release"
    # The blob's own entry; its directory's entry was synced when the store was made.
    assert synced == [store.path(blob.sha256).parent]
    assert store.put_bytes(b"some release").created is False


def test_derived_blobs_skip_the_syncs(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    synced.clear()
    blob = store.put_bytes(b"metadata", durable=False)
    assert store.path(blob.sha256).read_bytes() == b"metadata"
    assert synced == []


def test_a_directory_removed_behind_the_store_is_made_again(tmp_path):
    store = FileStore(tmp_path / "files")
    shutil.rmtree(store.root / hashlib.sha256(b"x").hexdigest()[:2])
    blob = store.put_bytes(b"x")
    assert store.path(blob.sha256).read_bytes() == b"x"
    assert list(store.tmpdir.iterdir()) == []


def test_a_store_of_the_nested_layout_still_finds_its_blobs(tmp_path):
    root = tmp_path / "files"
    old = b"stored before the flat layout"
    sha = hashlib.sha256(old).hexdigest()
    (root / sha[:2] / sha[2:4]).mkdir(parents=True)
    (root / sha[:2] / sha[2:4] / sha).write_bytes(old)
    store = FileStore(root)
    assert store._nested
    assert store.exists(sha) and store.path(sha).read_bytes() == old
    again = store.put_bytes(old)
    assert again.created is False and store.path(again.sha256) == root / sha[:2] / sha[2:4] / sha
    new = store.put_bytes(b"stored after")
    assert store.path(new.sha256) == root / new.sha256[:2] / new.sha256
    store.remove(sha)
    assert not store.exists(sha)
    # Reopened, it is still a store that may hold nested blobs.
    assert FileStore(root)._nested


def test_a_new_store_never_looks_for_nested_blobs(tmp_path):
    store = FileStore(tmp_path / "files")
    assert not store._nested
    store.put_bytes(b"y")
    sha = hashlib.sha256(b"y").hexdigest()
    assert FileStore(tmp_path / "files").path(sha) == store.root / sha[:2] / sha
    assert not FileStore(tmp_path / "files")._nested


def plant_nested(root, content: bytes) -> str:
    sha = hashlib.sha256(content).hexdigest()
    (root / sha[:2] / sha[2:4]).mkdir(parents=True, exist_ok=True)
    (root / sha[:2] / sha[2:4] / sha).write_bytes(content)
    return sha


def test_flatten_moves_nested_blobs_to_their_flat_places(tmp_path, synced):
    root = tmp_path / "files"
    contents = [f"release {n}".encode() for n in range(20)]
    shas = [plant_nested(root, content) for content in contents]
    store = FileStore(root)
    # The same content in both places (as a crash between a move and its removal leaves it).
    (root / shas[0][:2] / shas[0]).write_bytes(contents[0])
    synced.clear()
    assert store.flatten() == 19
    for sha, content in zip(shas, contents, strict=True):
        assert store.path(sha) == root / sha[:2] / sha
        assert store.path(sha).read_bytes() == content
    assert not [p for p in root.glob("*/*") if p.is_dir() and p.parent.name != "tmp"]
    assert not store._nested and not FileStore(root)._nested
    # Every directory that lost entries was synced after its blobs arrived.
    assert {path.name for path in synced} == {sha[:2] for sha in shas}
    assert store.flatten() == 0


def test_flatten_leaves_what_is_not_a_blob(tmp_path):
    root = tmp_path / "files"
    sha = plant_nested(root, b"kept")
    stray = root / sha[:2] / sha[2:4] / "notes.txt"
    stray.write_text("an operator's file")
    store = FileStore(root)
    assert store.flatten() == 1
    assert stray.read_text() == "an operator's file"
    assert store.path(sha).read_bytes() == b"kept"
