"""Retention rules (retention/cleanup.py): what each rule deletes, what a dry run reports, the
bytes freed on disk, the lease that lets one of several processes run the scheduled job, and
the last-download times the eviction reads. The clock is injected throughout."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pyshelf_server.accounts.models import User
from pyshelf_server.db import utcnow
from pyshelf_server.indexes.models import Index
from pyshelf_server.mirror.models import MirrorFile
from pyshelf_server.packages.downloads import DownloadCounter
from pyshelf_server.packages.models import File, Version
from pyshelf_server.retention.cleanup import run_cleanup
from pyshelf_server.retention.job import RetentionJob
from pyshelf_server.testing import make_sdist, make_wheel, on_postgresql


def _upload(shelf, index, name, version, *, sdist=False):
    filename, content = (make_sdist if sdist else make_wheel)(name, version)
    shelf.upload(index, filename, content, name=name, version=version)
    return filename, content


def _on_disk(app, content):
    return app.files.exists(hashlib.sha256(content).hexdigest())


def test_keep_versions_dry_run_then_real_run_frees_what_it_reported(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index("root/dev", keep_versions=2)
    shelf.create_index("root/other")
    files = {v: _upload(shelf, "root/dev", "pkg", v) for v in ("1.0", "10.0", "2.0", "9.1rc1")}
    sdist = _upload(shelf, "root/dev", "pkg", "1.0", sdist=True)
    # The same 2.0 wheel is also on another index: deleting it here frees nothing.
    shelf.upload("root/other", *files["2.0"], name="pkg", version="2.0")

    dry = run_cleanup(app.database, app.files, dry_run=True)
    (cleanup,) = dry.indexes
    planned = sorted((r.version, r.filename, r.rule) for r in cleanup.removals)
    assert planned == sorted([
        ("1.0", files["1.0"][0], "keep_versions"),
        ("1.0", sdist[0], "keep_versions"),
        ("2.0", files["2.0"][0], "keep_versions"),
    ])
    with app.database.reading() as session:
        metadata_blob = session.execute(
            select(File.metadata_sha256).where(File.filename == files["1.0"][0])
        ).scalar_one()
    freed_blobs = [files["1.0"][1], sdist[1]]
    shas = [hashlib.sha256(c).hexdigest() for c in freed_blobs] + [metadata_blob]
    paths = [app.files.local_path(sha) for sha in shas]
    # Measured on the file system: the blobs only the deleted rows referred to (the wheel's
    # METADATA blob among them).
    assert dry.bytes_freed == sum(os.stat(p).st_size for p in paths)
    assert dry.blobs_removed == 3
    assert all(p.exists() for p in paths)  # a dry run deletes nothing

    real = run_cleanup(app.database, app.files)
    assert real.files == 3 and real.bytes_freed == dry.bytes_freed
    assert real.blobs_removed == dry.blobs_removed
    assert not any(p.exists() for p in paths)
    assert _on_disk(app, files["2.0"][1]) and _on_disk(app, files["10.0"][1])
    page = shelf.test.get("/root/dev/+simple/pkg/", headers={"Accept": "text/html"}).text
    assert files["10.0"][0] in page and files["9.1rc1"][0] in page
    assert files["1.0"][0] not in page and files["2.0"][0] not in page
    # No tombstone: the database does not grow from what retention deletes.
    shelf.test.get(f"/root/dev/+f/{hashlib.sha256(files['1.0'][1]).hexdigest()[:3]}/"
                   f"{hashlib.sha256(files['1.0'][1]).hexdigest()[3:16]}/{files['1.0'][0]}",
                   status=404)
    assert run_cleanup(app.database, app.files).files == 0


def test_prereleases_older_than_the_age_go(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index("root/dev", drop_prereleases_after="7d")
    old_rc = _upload(shelf, "root/dev", "pkg", "2.0rc1")
    new_dev = _upload(shelf, "root/dev", "pkg", "2.1.dev3")
    final = _upload(shelf, "root/dev", "pkg", "1.0")
    now = utcnow()
    with app.database.writing() as uow:
        uow.session.execute(
            update(Version).where(Version.version.in_(["2.0rc1", "1.0"]))
            .values(created=now - timedelta(days=8))
        )
    report = run_cleanup(app.database, app.files, now=now)
    assert [r.filename for r in report.indexes[0].removals] == [old_rc[0]]
    assert not _on_disk(app, old_rc[1])
    assert _on_disk(app, new_dev[1]) and _on_disk(app, final[1])
    # Eight days on, the dev release is old enough too.
    later = run_cleanup(app.database, app.files, now=now + timedelta(days=8))
    assert [r.filename for r in later.indexes[0].removals] == [new_dev[0]]


def test_non_volatile_stages_keep_their_releases_unless_forced(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index("root/prod", volatile=False, keep_versions=1)
    kept = _upload(shelf, "root/prod", "pkg", "1.0")
    _upload(shelf, "root/prod", "pkg", "2.0")
    report = run_cleanup(app.database, app.files)
    assert report.files == 0 and "non-volatile" in report.indexes[0].skipped
    assert _on_disk(app, kept[1])
    forced = run_cleanup(app.database, app.files, force=True)
    assert [r.filename for r in forced.indexes[0].removals] == [kept[0]]
    assert not _on_disk(app, kept[1])


def _mirror_file(app, index_id, name, content, *, stored, last_download=None):
    blob = app.files.put_bytes(content)
    with app.database.writing(counts_as_change=False) as uow:
        row = MirrorFile(
            index_id=index_id, project="proj", filename=name, key=blob.sha256[:16],
            sha256=blob.sha256, size=len(content), version="1.0",
            url=f"http://upstream.example/files/{name}", stored=stored,
            last_download=last_download,
        )
        uow.session.add(row)
    return blob.sha256


def _index_id(shelf, fullname):
    user, name = fullname.split("/")
    with shelf.app.registry.pyshelf.database.reading() as session:
        return session.execute(
            select(Index.id).join(User, Index.user_id == User.id)
            .where(User.name == user, Index.name == name)
        ).scalar_one()


def test_mirror_files_unused_for_the_duration_are_evicted_then_lru_to_the_quota(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index(
        "root/mirror", type="mirror", mirror_url="http://upstream.example/simple/",
        evict_unused_after="30d", max_size="2K",
    )
    index_id = _index_id(shelf, "root/mirror")
    now = utcnow()
    day = timedelta(days=1)
    stale = _mirror_file(app, index_id, "stale.whl", b"s" * 700, stored=now - 40 * day)
    used_lately = _mirror_file(app, index_id, "used.whl", b"u" * 700,
                               stored=now - 40 * day, last_download=now - day)
    oldest_use = _mirror_file(app, index_id, "a.whl", b"a" * 700, stored=now - 5 * day)
    newer = _mirror_file(app, index_id, "b.whl", b"b" * 700, stored=now - 3 * day)
    newest = _mirror_file(app, index_id, "c.whl", b"c" * 700, stored=now - 2 * day)

    dry = run_cleanup(app.database, app.files, now=now, dry_run=True)
    rules = {r.filename: r.rule for r in dry.indexes[0].removals}
    # 4 x 700 bytes are left after the stale file; 2 KiB holds two: the least recently used
    # of the rest go.
    assert rules == {"stale.whl": "evict_unused_after", "a.whl": "max_size",
                     "b.whl": "max_size"}
    assert dry.bytes_freed == 2100
    real = run_cleanup(app.database, app.files, now=now)
    assert real.bytes_freed == 2100
    for sha in (stale, oldest_use, newer):
        assert not app.files.exists(sha)
    assert app.files.exists(used_lately) and app.files.exists(newest)
    with app.database.reading() as session:
        left = session.execute(select(MirrorFile.filename).order_by(MirrorFile.filename))
        assert list(left.scalars()) == ["c.whl", "used.whl"]


def test_the_download_counter_records_last_downloads_in_batches(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index("root/dev")
    shelf.create_index(
        "root/mirror", type="mirror", mirror_url="http://upstream.example/simple/"
    )
    _upload(shelf, "root/dev", "pkg", "1.0")
    _mirror_file(app, _index_id(shelf, "root/mirror"), "m.whl", b"m", stored=utcnow())
    when = utcnow() - timedelta(hours=3)
    counter = DownloadCounter(app.database, clock=lambda: when)
    with app.database.reading() as session:
        file_id = session.execute(select(File.id)).scalar_one()
        mirror = session.execute(select(MirrorFile)).scalar_one()
        mirror_id = mirror.id
    counter.count(file_id)
    counter.count(file_id)
    counter.count_mirrored(mirror.index_id, mirror.filename, mirror.key)
    counter.count_mirrored(mirror.index_id, "gone.whl", "0" * 16)  # no row: matches nothing
    with app.database.reading() as session:
        assert session.get(File, file_id).last_download is None  # nothing written yet
    counter.flush()
    with app.database.reading() as session:
        row = session.get(File, file_id)
        assert (row.download_count, row.last_download) == (2, when)
        mirrored = session.get(MirrorFile, mirror_id)
        assert (mirrored.download_count, mirrored.last_download) == (1, when)


def test_one_of_several_processes_runs_the_scheduled_cleanup_per_interval(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index("root/dev", keep_versions=1)
    now = utcnow()
    clock = [now]
    jobs = [
        RetentionJob(app.database, app.files, interval=3600, holder=holder,
                     clock=lambda: clock[0])
        for holder in ("process-a", "process-b")
    ]
    old = _upload(shelf, "root/dev", "pkg", "1.0")
    _upload(shelf, "root/dev", "pkg", "2.0")
    first = jobs[0].run_once()
    assert first is not None and first.files == 1 and not _on_disk(app, old[1])
    assert jobs[1].run_once() is None  # the interval's lease is process a's
    clock[0] = now + timedelta(seconds=3601)
    assert jobs[1].run_once() is not None


@pytest.mark.parametrize(
    ("option", "value"),
    [("keep_versions", "0"), ("keep_versions", "many"), ("drop_prereleases_after", "soon"),
     ("drop_prereleases_after", "0d"), ("drop_prereleases_after", "99999999999d")],
)
def test_bad_stage_retention_options_are_refused(shelf, option, value):
    response = shelf.json("PUT", "/root/dev", {option: value}, user="root", status=400)
    assert option in response.json["message"]


def test_bad_mirror_quota_is_refused(shelf):
    response = shelf.json(
        "PUT", "/root/m",
        {"type": "mirror", "mirror_url": "http://upstream.example/simple/", "max_size": "lots"},
        user="root", status=400,
    )
    assert "max_size" in response.json["message"]


@pytest.mark.skipif(on_postgresql(), reason="SQLite's file")
def test_the_sqlite_file_gives_the_space_of_deleted_rows_back(shelf):
    app = shelf.app.registry.pyshelf
    shelf.create_index(
        "root/mirror", type="mirror", mirror_url="http://upstream.example/simple/",
        max_size=1,
    )
    index_id = _index_id(shelf, "root/mirror")
    with app.database.writing(counts_as_change=False) as uow:
        uow.session.add_all(
            MirrorFile(index_id=index_id, project="p", filename=f"f{i}.whl", key=f"{i:016d}",
                       sha256=f"{i:064d}", size=10, url="http://upstream.example/" + "x" * 500,
                       stored=utcnow())
            for i in range(3000)
        )
    report = run_cleanup(app.database, app.files)
    assert report.files == 3000 and report.database_bytes_freed > 1_000_000
