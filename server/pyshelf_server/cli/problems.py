"""What the commands say when they cannot start, and how they stop: the message on stderr and
exit status 2, never a traceback."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

from ..settings import ServerSettings


def fail(message: str) -> None:
    print(f"pyshelf: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def storage_problem(settings: ServerSettings) -> str | None:
    """What is wrong with the store's settings, before anything is opened."""
    from ..settings import S3Location

    try:
        storage = settings.storage
    except ValueError as error:
        return str(error)
    if settings.s3_redirect and not isinstance(storage, S3Location):
        return "--s3-redirect needs an s3:// --storage-url"
    return None


# How long the start waits for another process's write lock on an SQLite database.
SQLITE_LOCK_WAIT_SECONDS = 10


def sqlite_lock_problem(engine: Any) -> str | None:
    """Why an SQLite database cannot be written (another process holds its lock), or None.
    Without this check the start would wait in silence for the server's long busy timeout."""
    import sqlite3

    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    connection = sqlite3.connect(engine.url.database, timeout=SQLITE_LOCK_WAIT_SECONDS)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
    except sqlite3.OperationalError as error:
        return database_problem(engine, error)
    finally:
        connection.close()
    return None


def database_problem(engine: Any, error: Exception) -> str:
    """What to do when the database cannot be used at the start."""
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    where = engine.url.render_as_string(hide_password=True)
    if "locked" in detail:
        return (
            f"the database {where} is locked by another process (an sqlite3 shell, a backup, "
            "a pyshelf-server that is still stopping?): let it finish or stop it, then start "
            "again"
        )
    return f"cannot use the database {where}: {detail}"


def listen_problem(host: str, port: int, error: OSError) -> str:
    """What to do when the server cannot listen on ``host:port``."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another pyshelf-server?): stop what "
            "listens there, or choose another port with --port (PYSHELF_PORT)"
        )
    if error.errno == errno.EACCES:
        return (
            f"may not listen on port {port}: ports below 1024 need privileges; choose another "
            "port with --port (PYSHELF_PORT)"
        )
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return (
            f"cannot listen on {host!r}: this machine has no such address; choose another "
            "with --host (PYSHELF_HOST)"
        )
    return f"cannot listen on {host}:{port}: {error.strerror or error}"

