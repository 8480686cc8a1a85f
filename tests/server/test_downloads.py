"""Download counts are kept in memory and written in batches; a failed write keeps them."""

import threading
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from pyshelf_server.packages.downloads import DownloadCounter
from pyshelf_server.packages.models import File
from pyshelf_server.testing import make_wheel


def test_counts_of_a_failed_flush_are_written_by_the_next(shelf):
    shelf.create_index("root/dev")
    filename, content = make_wheel("counted", "1.0")
    shelf.upload("root/dev", filename, content, name="counted", version="1.0")
    app = shelf.app.registry.pyshelf
    failures = []

    class LosingTheFirstWrite:
        """The server's database, whose first write transaction fails."""

        @contextmanager
        def writing(self, **options):
            with app.database.writing(**options) as uow:
                if not failures:
                    failures.append(True)
                    raise OperationalError("UPDATE", {}, Exception("the database went away"))
                yield uow

    counter = DownloadCounter(LosingTheFirstWrite())
    with app.database.reading() as reader:
        file_id = reader.execute(select(File.id).where(File.filename == filename)).scalar_one()
    for _ in range(3):
        counter.count(file_id)
    counter.flush()
    assert failures and counter.pending[file_id] == 3
    counter.count(file_id)
    counter.flush()
    with app.database.reading() as reader:
        stored = reader.execute(select(File.download_count).where(File.id == file_id)).scalar_one()
    assert stored == 4 and not counter.pending


def test_a_flush_returns_only_once_counts_another_flush_took_are_stored(shelf):
    """The background thread's flush may have taken the pending counts and still be writing
    them when someone else (shutdown, a test) flushes: that flush must wait for them."""
    shelf.create_index("root/dev")
    filename, content = make_wheel("racing", "1.0")
    shelf.upload("root/dev", filename, content, name="racing", version="1.0")
    app = shelf.app.registry.pyshelf
    inside, release = threading.Event(), threading.Event()

    class PausingTheFirstWrite:
        """The server's database, whose first write transaction waits for ``release``."""

        paused = False

        @contextmanager
        def writing(self, **options):
            with app.database.writing(**options) as uow:
                if not self.paused:
                    self.paused = True
                    inside.set()
                    release.wait(30)
                yield uow

    counter = DownloadCounter(PausingTheFirstWrite())
    with app.database.reading() as reader:
        file_id = reader.execute(select(File.id).where(File.filename == filename)).scalar_one()
    counter.count(file_id)
    counter.count(file_id)
    background = threading.Thread(target=counter.flush)
    background.start()
    assert inside.wait(30)
    second = threading.Thread(target=counter.flush)
    second.start()
    second.join(0.5)
    still_waiting = second.is_alive()
    release.set()
    background.join(30)
    second.join(30)
    assert still_waiting, "the second flush returned while the counts were not stored yet"
    with app.database.reading() as reader:
        stored = reader.execute(select(File.download_count).where(File.id == file_id)).scalar_one()
    assert stored == 2
