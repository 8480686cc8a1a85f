"""Group commit of uploads (upload/batch.py), on a real SQLite database without HTTP."""

import threading
import time

import pytest
from sqlalchemy import event, insert, select

from pyshelf_server.accounts.models import User
from pyshelf_server.db import read_state
from pyshelf_server.responses import APIError
from pyshelf_server.upload import batch as batch_module
from pyshelf_server.upload.batch import BatchWriter


@pytest.fixture
def app(make_app):
    return make_app().registry.pyshelf


USERS = User.__table__


def add_user(name):
    def write(connection):
        connection.execute(insert(USERS).values(name=name, password_hash="x"))
        return name

    return write


def user_names(app):
    session = app.sessions()
    try:
        return set(session.execute(select(User.name)).scalars())
    finally:
        session.close()


def serial(app):
    session = app.sessions()
    try:
        return read_state(session)[0]
    finally:
        session.close()


def run_in_threads(writer, writes):
    results, errors = {}, {}

    def go(key, write):
        try:
            results[key] = writer.run(write)
        except BaseException as error:
            errors[key] = error

    threads = [threading.Thread(target=go, args=(key, write)) for key, write in writes.items()]
    for thread in threads:
        thread.start()
    return threads, results, errors


def wait_for_queue(writer, length):
    deadline = time.monotonic() + 10
    while len(writer._queue) < length:
        assert time.monotonic() < deadline, "the uploads did not queue"
        time.sleep(0.01)


def queue_behind_a_slow_write(writer, first, writes):
    """Start writing user ``first`` and hold it, queue ``writes`` behind it, then let it end;
    the results and errors of the first write, then of the queued ones."""
    release = threading.Event()

    def slow_first(connection):
        release.wait(10)
        return add_user(first)(connection)

    threads, first_results, first_errors = run_in_threads(writer, {first: slow_first})
    wait_for_queue(writer, 0)
    time.sleep(0.05)
    more, results, errors = run_in_threads(writer, writes)
    wait_for_queue(writer, len(writes))
    release.set()
    for thread in threads + more:
        thread.join(10)
    return first_results, first_errors, results, errors


def test_uploads_queued_behind_a_batch_share_the_next_commit(app):
    writer = BatchWriter(app.engine)
    before = serial(app)
    others = {f"u{i}": add_user(f"u{i}") for i in range(6)}
    results, errors, more_results, more_errors = queue_behind_a_slow_write(writer, "first", others)
    assert not errors and not more_errors
    assert results["first"] == ("first", before + 1)
    # The six waited together and were committed together.
    assert {serial for _name, serial in more_results.values()} == {before + 2}
    assert {name for name, _serial in more_results.values()} == set(others)
    assert serial(app) == before + 2
    assert {"first", *others} <= user_names(app)


def test_a_failing_upload_fails_alone(app):
    writer = BatchWriter(app.engine)

    def refused(connection):
        add_user("refused")(connection)
        raise APIError(409, "refused")

    _first, _first_errors, results, errors = queue_behind_a_slow_write(
        writer, "blocker", {"a": add_user("a"), "refused": refused, "b": add_user("b")}
    )
    assert isinstance(errors.pop("refused"), APIError)
    assert not errors and set(results) == {"a", "b"}
    names = user_names(app)
    assert {"a", "b", "blocker"} <= names and "refused" not in names


def test_a_failed_commit_fails_every_upload_of_the_batch(app, monkeypatch):
    writer = BatchWriter(app.engine)

    def broken_end(connection, **options):
        raise RuntimeError("disk full")

    # The last statement before the COMMIT.
    monkeypatch.setattr(batch_module, "bump_serial", broken_end)
    with pytest.raises(APIError) as raised:
        writer.run(add_user("lost"))
    assert raised.value.status == 503
    assert "lost" not in user_names(app)


def test_a_batch_that_succeeds_is_written_without_savepoints(app):
    writer = BatchWriter(app.engine)
    statements = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    event.listen(app.engine, "before_cursor_execute", remember)
    _first, _first_errors, results, errors = queue_behind_a_slow_write(
        writer, "first-of-batch", {f"s{i}": add_user(f"s{i}") for i in range(3)}
    )
    event.remove(app.engine, "before_cursor_execute", remember)
    assert not errors and set(results) == {"s0", "s1", "s2"}
    assert statements.count("INSERT") == 4
    assert "SAVEPOINT" not in statements


def test_an_upload_recorded_by_the_batch_opens_no_session(make_app):
    """Its rows are the batch writer's; the identity, the index layout and the serial come
    from caches and the state reader once they are warm (the first upload warms them)."""
    from pyshelf_server.testing import Shelf, make_wheel

    shelf = Shelf(make_app())
    shelf.create_index("root/dev")
    app = shelf.app.registry.pyshelf
    real = app.sessions
    opened = []

    def counting(**kw):
        opened.append(kw)
        return real(**kw)

    app.sessions = counting
    try:
        shelf.upload("root/dev", *make_wheel("first", "1.0"), name="first", version="1.0")
        opened.clear()
        response = shelf.upload(
            "root/dev", *make_wheel("second", "1.0"), name="second", version="1.0"
        )
    finally:
        app.sessions = real
    assert response.status_int == 200
    assert opened == []
    assert "second-1.0-py3-none-any.whl" in shelf.test.get("/root/dev/+simple/second/").text
