"""The content-addressed store: what it syncs so that a stored blob survives a crash."""

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


def content_with_prefix(prefix: str, start: int = 0, not_prefix: str = "-") -> bytes:
    """Some bytes whose sha256 starts with ``prefix`` (hex) and not with ``not_prefix``."""
    for n in range(start, start + 10_000_000):
        data = str(n).encode()
        digest = hashlib.sha256(data).hexdigest()
        if digest.startswith(prefix) and not digest.startswith(not_prefix):
            return data
    raise AssertionError(prefix)


def test_a_blob_in_new_directories_syncs_each_new_entry_where_it_lives(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    blob = store.put_bytes(content_with_prefix("ab"))
    outer, inner = blob.path.parent.parent, blob.path.parent
    assert outer.parent == store.root
    # Each new directory's entry is synced in its parent, then the blob's own entry.
    assert synced == [store.root, outer, inner]


def test_known_directories_are_not_made_or_synced_again(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    first = store.put_bytes(content_with_prefix("ab"))
    synced.clear()
    second = store.put_bytes(content_with_prefix(first.sha256[:4], start=10_000_000))
    assert second.path.parent == first.path.parent and second.sha256 != first.sha256
    assert synced == [first.path.parent]
    synced.clear()
    third = store.put_bytes(content_with_prefix(first.sha256[:2], not_prefix=first.sha256[:4]))
    # A new inner directory beside a known outer one: only the new entry is synced.
    assert third.path.parent.parent == first.path.parent.parent
    assert synced == [third.path.parent.parent, third.path.parent]


def test_a_directory_removed_behind_the_store_is_made_again(tmp_path):
    store = FileStore(tmp_path / "files")
    first = store.put_bytes(content_with_prefix("cd"))
    shutil.rmtree(first.path.parent.parent)
    again = store.put_bytes(content_with_prefix(first.sha256[:4], start=10_000_000))
    assert again.path.read_bytes() and again.path.parent.is_dir()
    assert list(store.tmpdir.iterdir()) == []


def test_derived_blobs_skip_the_syncs(tmp_path, synced):
    store = FileStore(tmp_path / "files")
    blob = store.put_bytes(b"metadata", durable=False)
    assert blob.path.read_bytes() == b"metadata"
    assert synced == []
