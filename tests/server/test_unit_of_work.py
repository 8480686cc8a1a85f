"""The unit of work: the serial it commits, what counts as a change, the blobs it owns and
SQLite's process write lock."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import select, update

from pyshelf_server import hookimpl
from pyshelf_server.db import read_state
from pyshelf_server.indexes.models import Index
from pyshelf_server.mirror.models import MirrorState
from pyshelf_server.packages.models import File
from pyshelf_server.testing import Shelf, make_wheel
from pyshelf_server.unit_of_work import UnitOfWork


def serial(shelf) -> int:
    with shelf.app.registry.pyshelf.database.reading() as session:
        return read_state(session)[0]


def file_rows(shelf) -> list[str]:
    with shelf.app.registry.pyshelf.database.reading() as session:
        return list(session.execute(select(File.filename)).scalars())


def test_each_committed_upload_raises_the_serial_by_one_and_answers_it(shelf):
    shelf.create_index("root/dev")
    for number in range(3):
        before = serial(shelf)
        filename, content = make_wheel("counted", f"1.{number}")
        answer = shelf.upload("root/dev", filename, content, name="counted", version=f"1.{number}")
        assert serial(shelf) == before + 1
        assert answer.headers["X-Devpi-Serial"] == str(before + 1)


def test_an_identical_reupload_and_a_read_change_nothing(shelf):
    shelf.create_index("root/prod", volatile=False)
    filename, content = make_wheel("same", "1.0")
    shelf.upload("root/prod", filename, content, name="same", version="1.0")
    before = serial(shelf)
    answer = shelf.upload("root/prod", filename, content, name="same", version="1.0")
    assert "identical" in answer.status
    shelf.json("GET", "/root/prod/same")
    assert serial(shelf) == before
    assert answer.headers["X-Devpi-Serial"] == str(before)


def test_bookkeeping_writes_do_not_raise_the_serial_but_marked_core_writes_do(shelf):
    shelf.create_index("root/pypi", type="mirror", mirror_url="http://upstream.example/simple/")
    database = shelf.app.registry.pyshelf.database
    with database.reading() as session:
        index_id = session.execute(select(Index.id).where(Index.name == "pypi")).scalar_one()
    before = serial(shelf)
    # A mirror's cache (an ORM row) is bookkeeping.
    with database.writing(counts_as_change=False) as uow:
        uow.session.add(MirrorState(index_id=index_id, list_count=1))
    assert serial(shelf) == before
    # A Core statement is not seen by the session: unmarked it is no change...
    with database.writing() as uow:
        uow.session.execute(update(MirrorState).values(list_count=2))
    assert serial(shelf) == before
    # ...and marked it is one; the commit tells its serial.
    uow = database.unit_of_work(write=True)
    uow.session.execute(update(MirrorState).values(list_count=3))
    uow.changed()
    assert uow.commit() == before + 1 == serial(shelf)


def test_a_layout_change_replaces_the_config_token_and_no_other_write_does(shelf):
    database = shelf.app.registry.pyshelf.database
    with database.reading() as session:
        _, state, config, users = read_state(session)
    shelf.create_index("root/dev")
    with database.reading() as session:
        _, state2, config2, users2 = read_state(session)
    assert state2 != state and config2 != config and users2 == users
    filename, content = make_wheel("pkg", "1.0")
    shelf.upload("root/dev", filename, content, name="pkg", version="1.0")
    with database.reading() as session:
        _, state3, config3, users3 = read_state(session)
    assert state3 != state2 and config3 == config2 and users3 == users


def test_an_upload_whose_commit_fails_leaves_no_blob_and_no_row(shelf, monkeypatch):
    shelf.create_index("root/dev")
    real_commit = UnitOfWork.commit

    def failing_commit(uow):
        if uow.writing and uow.opened:
            uow.rollback()
            raise RuntimeError("disk full")
        return real_commit(uow)

    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    filename, content = make_wheel("lost", "1.0")
    answer = shelf.upload("root/dev", filename, content, name="lost", version="1.0", status=503)
    assert answer.status_int == 503
    files = shelf.app.registry.pyshelf.files
    assert not files.exists(hashlib.sha256(content).hexdigest())
    assert list(files.root.glob("??/*")) == []  # the extracted METADATA went too
    monkeypatch.setattr(UnitOfWork, "commit", real_commit)
    assert file_rows(shelf) == []


def test_a_refused_upload_into_a_new_project_leaves_no_blob_and_no_row(shelf):
    shelf.create_index("root/dev")
    filename, content = make_wheel("refused", "1.0")
    shelf.upload(
        "root/dev", filename, content, name="refused", version="1.0",
        sha256_digest="0" * 64, status=400,
    )
    assert list(shelf.app.registry.pyshelf.files.root.glob("??/*")) == []
    assert file_rows(shelf) == []


@pytest.mark.skipif("config.getoption('--db') == 'postgresql'")
def test_the_sqlite_write_lock_is_held_from_first_write_to_the_end(shelf):
    database = shelf.app.registry.pyshelf.database
    lock = database.write_lock
    uow = database.unit_of_work()
    uow.session.execute(select(File.id)).all()
    assert not lock.locked()  # reading takes no lock
    uow.begin_write()
    uow.session.execute(select(File.id)).all()
    assert lock.locked()
    # Another writer of the process waits on the lock, not in SQLite's busy handler.
    entered = threading.Event()

    def other_writer():
        with database.writing() as other:
            other.session.execute(select(File.id)).all()
            entered.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert not entered.wait(0.2)
    uow.commit()
    assert entered.wait(10)
    thread.join()
    assert not lock.locked()
    # A write that fails lets go of it as well.
    with pytest.raises(RuntimeError), database.writing() as failing:
        failing.session.execute(select(File.id)).all()
        raise RuntimeError("refused")
    assert not lock.locked()


class ReadsAfterTheCommit:
    """A plugin whose upload hook reads through the request once its write committed."""

    def __init__(self) -> None:
        self.read = []

    @hookimpl
    def pyshelf_on_upload(self, request, index, project, version, file):
        self.read.append(request.db.execute(select(File.filename)).scalars().all())


def test_a_session_a_plugin_opens_after_the_commit_is_ended(make_app):
    plugin = ReadsAfterTheCommit()
    shelf = Shelf(make_app(plugins=[plugin]))
    shelf.create_index("root/dev")
    database = shelf.app.registry.pyshelf.database
    for version in ("1.0", "2.0"):
        filename, content = make_wheel("hooked", version)
        shelf.upload("root/dev", filename, content, name="hooked", version=version)
        if database.write_lock is not None:
            assert not database.write_lock.locked()
    assert [len(names) for names in plugin.read] == [1, 2]
    # Nothing left open: a write of another thread gets through at once.
    with database.writing() as uow:
        uow.session.execute(select(File.id)).all()
