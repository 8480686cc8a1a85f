"""Download counts are kept in memory and written in batches; a failed write keeps them."""

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

    def sessions(write=False):
        session = app.sessions(write=write)
        if not failures:
            failures.append(True)

            def broken(*args, **kw):
                raise OperationalError("UPDATE", {}, Exception("the database went away"))

            session.execute = broken
        return session

    counter = DownloadCounter(sessions)
    reader = app.sessions()
    file_id = reader.execute(select(File.id).where(File.filename == filename)).scalar_one()
    reader.close()
    for _ in range(3):
        counter.count(file_id)
    counter.flush()
    assert failures and counter.pending[file_id] == 3
    counter.count(file_id)
    counter.flush()
    reader = app.sessions()
    try:
        stored = reader.execute(select(File.download_count).where(File.id == file_id)).scalar_one()
    finally:
        reader.close()
    assert stored == 4 and not counter.pending
