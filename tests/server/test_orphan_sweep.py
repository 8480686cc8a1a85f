"""Blobs no row refers to (a crash between storing a blob and committing its row) are swept
after a grace period; temporary files of other processes sharing the store are left alone."""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pyshelf_server.indexes.models import Index
from pyshelf_server.mirror.models import MirrorFile, MirrorState
from pyshelf_server.packages.models import File
from pyshelf_server.storage import files as files_module
from pyshelf_server.storage.files import FileStore
from pyshelf_server.storage.orphans import OrphanSweeper, sweep_orphans
from pyshelf_server.storage.references import discard_unreferenced
from pyshelf_server.testing import make_wheel

BIN = Path(sys.executable).parent
HOUR = 3600


def age(path, seconds):
    """Make ``path`` look last modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def store_of(shelf):
    return shelf.app.registry.pyshelf


def test_sweep_removes_only_old_blobs_no_row_refers_to(shelf):
    app = store_of(shelf)
    shelf.create_index("root/dev")
    filename, wheel = make_wheel("kept", "1.0")
    shelf.upload("root/dev", filename, wheel, name="kept", version="1.0")
    wheel_sha = hashlib.sha256(wheel).hexdigest()
    with Session(app.engine) as session:
        metadata_sha = session.scalar(select(File.metadata_sha256).where(File.sha256 == wheel_sha))
    assert metadata_sha
    # Blobs of a mirror's file and of a mirror's project list.
    shelf.create_index("root/mirror", type="mirror", mirror_url="http://upstream.example/simple/")
    mirrored = app.files.put_bytes(b"a mirrored file")
    listed = app.files.put_bytes(b"a\nb\n")
    with Session(app.engine) as session:
        index_id = session.scalar(select(Index.id).where(Index.name == "mirror"))
        session.add(
            MirrorFile(
                index_id=index_id,
                project="p",
                filename="p-1.tar.gz",
                key="k",
                sha256=mirrored.sha256,
                size=1,
                url="http://upstream.example/p-1.tar.gz",
            )
        )
        session.merge(MirrorState(index_id=index_id, list_sha256=listed.sha256))
        session.commit()
    orphan = app.files.put_bytes(b"stored, then the process was killed before its row")
    referenced = [wheel_sha, metadata_sha, mirrored.sha256, listed.sha256]

    # Within the grace period nothing goes, not even the orphan.
    assert sweep_orphans(app.database, app.files, grace_seconds=HOUR, now=time.time()) == 0
    assert app.files.exists(orphan.sha256)

    later = time.time() + 2 * HOUR
    assert sweep_orphans(app.database, app.files, grace_seconds=HOUR, now=later) == 1
    assert not app.files.exists(orphan.sha256)
    assert all(app.files.exists(sha) for sha in referenced)
    # Still served.
    link = shelf.json("GET", "/root/dev/kept/1.0").json["result"]["+links"][0]["href"]
    assert shelf.test.get(link.removeprefix("http://localhost")).body == wheel


def test_storing_content_already_in_the_store_makes_it_new_to_the_sweep(shelf):
    """An upload that finds its bytes already stored (an orphan, say) is about to commit a row
    that refers to them: the sweep must not take them in between."""
    files = store_of(shelf).files
    content = b"uploaded once, crashed, uploaded again"
    first = files.put_bytes(content)
    age(files.path(first.sha256), 2 * HOUR)
    again = files.put_bytes(content)  # adopted, its row not yet committed
    assert again.created is False
    assert sweep_orphans(store_of(shelf).database, files, grace_seconds=HOUR, now=time.time()) == 0
    assert files.exists(first.sha256)


def test_a_mirror_file_of_stored_content_touches_the_blob(tmp_path):
    files = FileStore(tmp_path / "files")
    blob = files.put_bytes(b"content")
    age(files.path(blob.sha256), 2 * HOUR)
    assert files.touch(blob.sha256)
    assert files.path(blob.sha256).stat().st_mtime > time.time() - 60
    files.remove(blob.sha256)
    assert not files.touch(blob.sha256)


def test_the_decision_under_the_lock_looks_again(shelf):
    """Between the sweep's read and its write lock a row may commit, or the blob be touched:
    both keep the blob."""
    app = store_of(shelf)
    shelf.create_index("root/dev")
    filename, wheel = make_wheel("late", "1.0")
    shelf.upload("root/dev", filename, wheel, name="late", version="1.0")
    committed = hashlib.sha256(wheel).hexdigest()
    touched = app.files.put_bytes(b"touched after the walk")
    unused = app.files.put_bytes(b"really unused")
    cutoff = time.time() + 60
    removed = discard_unreferenced(
        app.database, app.files, [committed, unused.sha256], untouched_since=cutoff
    )
    assert removed == [unused.sha256]
    assert app.files.exists(committed) and not app.files.exists(unused.sha256)
    assert (
        discard_unreferenced(
            app.database, app.files, [touched.sha256], untouched_since=time.time() - 60
        )
        == []
    )
    assert app.files.exists(touched.sha256)


def test_sweeper_uses_its_clock_and_cleans_abandoned_temporary_directories(shelf):
    app = store_of(shelf)
    orphan = app.files.put_bytes(b"orphan")
    dead = app.files.tmproot / "otherhost-4242-deadbeef"
    dead.mkdir()
    (dead / "upload-x").write_bytes(b"half an upload")
    now = [time.time()]
    sweeper = OrphanSweeper(app.database, app.files, grace_seconds=HOUR, clock=lambda: now[0])
    assert sweeper.sweep() == 0
    assert app.files.exists(orphan.sha256)
    assert not dead.exists()  # nobody holds its lock
    now[0] += 2 * HOUR
    assert sweeper.sweep() == 1
    assert not app.files.exists(orphan.sha256)


def test_temporary_files_of_live_processes_survive_a_start(tmp_path):
    """Every start used to empty the shared tmp directory, failing other processes' uploads."""
    root = tmp_path / "files"
    other = FileStore(root)
    writer = other.writer(prefix="upload-")
    writer.write(b"an upload streaming in")
    age(writer.path, 2 * HOUR)  # a slow client; its process is alive all the same
    loose_old = other.tmproot / "blob-left-by-an-old-version"
    loose_old.write_bytes(b"x")
    age(loose_old, 2 * HOUR)
    loose_new = other.tmproot / "blob-of-an-old-version-running-now"
    loose_new.write_bytes(b"y")

    starting = FileStore(root)
    assert starting.tmpdir != other.tmpdir
    assert starting.clean_temporary(HOUR, time.time()) == 1
    assert writer.path.exists() and loose_new.exists() and not loose_old.exists()
    written = writer.finish()
    assert other.adopt(written.path, sha256=written.sha256, size=written.size).created

    other.close()
    assert not other.tmpdir.exists()


def test_without_locks_a_temporary_directory_goes_only_after_the_grace_period(
    tmp_path, monkeypatch
):
    root = tmp_path / "files"
    other = FileStore(root)
    writer = other.writer()
    writer.write(b"busy")
    starting = FileStore(root)

    def no_locks(fd, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(files_module.fcntl, "flock", no_locks)
    assert starting.clean_temporary(HOUR, time.time()) == 0
    assert writer.path.exists()
    assert starting.clean_temporary(HOUR, time.time() + 2 * HOUR) == 1
    assert not other.tmpdir.exists()
    # Its owner, alive after all, makes it again for its next file.
    assert other.temporary().parent == other.tmpdir


def test_live_server_sweeps_at_start(make_live_server):
    server = make_live_server()
    server.create_index("root/dev")
    filename, wheel = make_wheel("survivor", "1.0")
    path = server.serverdir.parent / filename
    path.write_bytes(wheel)
    assert server.upload("root/dev", path, name="survivor", version="1.0").status_code == 200
    server.stop()

    files_dir = server.serverdir / "files"
    referenced = hashlib.sha256(wheel).hexdigest()
    age(files_dir / referenced[:2] / referenced, 2 * HOUR)
    orphan_content = b"a blob whose row never committed"
    orphan = hashlib.sha256(orphan_content).hexdigest()
    (files_dir / orphan[:2] / orphan).write_bytes(orphan_content)
    age(files_dir / orphan[:2] / orphan, 2 * HOUR)
    young_content = b"a blob whose upload is still committing"
    young = hashlib.sha256(young_content).hexdigest()
    (files_dir / young[:2] / young).write_bytes(young_content)
    # Another process on the same store, an upload in flight.
    other = FileStore(files_dir)
    in_flight = other.writer(prefix="upload-")
    in_flight.write(b"streaming")
    # And the temporary directory of a process killed mid-upload.
    killed = files_dir / "tmp" / "somehost-999-0badf00d"
    killed.mkdir()
    (killed / "upload-abc").write_bytes(b"half")

    server.start()
    deadline = time.monotonic() + 20
    while (files_dir / orphan[:2] / orphan).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (files_dir / orphan[:2] / orphan).exists()
    assert (files_dir / referenced[:2] / referenced).exists()
    assert (files_dir / young[:2] / young).exists()
    assert in_flight.path.exists()
    assert not killed.exists()
    simple = httpx.get(server.url + "/root/dev/+simple/survivor/", timeout=30).text
    href = simple.split('href="')[1].split("#")[0]
    fetched = httpx.get(httpx.URL(server.url + "/root/dev/+simple/survivor/").join(href))
    assert fetched.content == wheel

    # The one-shot sweep, with the server stopped: the young blob is past the grace period now.
    server.stop()
    age(files_dir / young[:2] / young, 2 * HOUR)
    result = subprocess.run(
        [str(BIN / "pyshelf-server"), "--serverdir", str(server.serverdir), "--sweep-orphans"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "removed 1 " in result.stdout
    assert not (files_dir / young[:2] / young).exists()
    assert (files_dir / referenced[:2] / referenced).exists()
    assert in_flight.path.exists()


@pytest.mark.parametrize("value", ["5", "-1"])
def test_a_grace_period_shorter_than_an_upload_is_refused(tmp_path, value):
    serverdir = tmp_path / "server"
    init = subprocess.run(
        [
            str(BIN / "pyshelf-init"),
            "--serverdir",
            str(serverdir),
            "--root-passwd",
            "x",
            "--no-root-pypi",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    result = subprocess.run(
        [
            str(BIN / "pyshelf-server"),
            "--serverdir",
            str(serverdir),
            "--orphan-grace-seconds",
            value,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--orphan-grace-seconds must be at least 60" in result.stderr


def test_a_sweep_between_storing_and_committing_refuses_the_upload(shelf, monkeypatch):
    """The race the grace period makes unlikely, forced: the sweep takes the blob of an upload
    that is stored but not committed. The upload is refused; no row is left without bytes."""
    app = store_of(shelf)
    shelf.create_index("root/dev")
    real_adopt = FileStore.adopt

    def adopt_then_sweep(self, *args, **kw):
        blob = real_adopt(self, *args, **kw)
        sweep_orphans(app.database, app.files, grace_seconds=HOUR, now=time.time() + 2 * HOUR)
        return blob

    monkeypatch.setattr(FileStore, "adopt", adopt_then_sweep)
    filename, wheel = make_wheel("raced", "1.0")
    answer = shelf.upload("root/dev", filename, wheel, name="raced", version="1.0", status=503)
    assert "please upload again" in answer.text
    with Session(app.engine) as session:
        assert session.scalar(select(File.id).where(File.filename == filename)) is None
    monkeypatch.undo()
    shelf.upload("root/dev", filename, wheel, name="raced", version="1.0")
    link = shelf.json("GET", "/root/dev/raced/1.0").json["result"]["+links"][0]["href"]
    assert shelf.test.get(link.removeprefix("http://localhost")).body == wheel
