"""Users whose passwords live in an Apache htpasswd file (``--htpasswd``), as pypiserver teams
keep them.

The file is read with passlib's ``HtpasswdFile`` and read again whenever its modification
time, size or inode changed: every authentication looks at the file's status first (one
``stat``), so each server process sees an edit, a new password or a removed line with the
next request, with no restart and nothing shared between processes.

A user found in the file and nowhere else becomes a pyshelf user the first time the server
checks their password: a row in ``users`` whose password hash is :data:`IN_HTPASSWD_FILE`, a
value no hash scheme accepts, so that their password is only ever checked against the file.
They can then own indexes and be named in ACLs like anyone. When their line goes, they are
refused at once (their row, indexes and packages stay, for root to delete or for their return).
Users created through pyshelf keep their passwords in the database, whatever the file says;
root never comes from the file.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..db import utcnow
from ..names import user_or_index_name_error
from .models import User

log = logging.getLogger(__name__)

# The password hash of a user whose password is in the htpasswd file. Like "!" in
# /etc/shadow: no scheme identifies it, so no password ever verifies against it.
IN_HTPASSWD_FILE = "!htpasswd"


class HtpasswdError(Exception):
    """The file cannot be read or parsed; the message says why (never a hash or password)."""


def parse_htpasswd(data: bytes, source: str) -> dict[str, str]:
    """The ``{user: hash}`` of an htpasswd file's content, leaving out (with a warning) the
    lines pyshelf will not use: root, names that are not valid user names, and hashes passlib
    cannot check (e.g. ``htpasswd -p``'s plain text). ``HtpasswdError`` for a malformed file."""
    from passlib.apache import HtpasswdFile

    from ..security import get_password_context

    parsed = HtpasswdFile()
    try:
        parsed.load_string(data)
    except ValueError as error:
        raise HtpasswdError(f"{source}: {error}") from None
    context = get_password_context()
    users: dict[str, str] = {}
    for name in parsed.users():
        raw = parsed.get_hash(name)
        password_hash = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        if name == "root":
            log.warning("%s: the line for root is ignored (root's password is pyshelf's)", source)
            continue
        problem = user_or_index_name_error(name)
        if problem:
            log.warning("%s: the line for %r is ignored: %s", source, name, problem)
            continue
        try:
            scheme = context.identify(password_hash)
        except ValueError:
            scheme = None
        if scheme is None:
            log.warning("%s: the line for %r is ignored: not a hash pyshelf checks", source, name)
            continue
        users[name] = password_hash
    return users


class HtpasswdUsers:
    """The users of one htpasswd file, as of its last change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()
        self.signature: tuple[int, ...] | None = None
        self.hashes: dict[str, str] = {}
        self.load()

    def load(self) -> None:
        """Read the file; ``HtpasswdError`` when it cannot be read or is malformed."""
        try:
            with open(self.path, "rb") as file:
                # The status of what is read: a write after it changes the status again, so a
                # change is read twice at worst, never missed.
                status = os.fstat(file.fileno())
                data = file.read()
        except OSError as error:
            raise HtpasswdError(
                f"cannot read the htpasswd file {self.path}: {error.strerror}"
            ) from None
        self.hashes = parse_htpasswd(data, str(self.path))
        self.signature = _signature(status)

    def hash_of(self, username: str) -> str | None:
        """``username``'s password hash in the file as it is now (None: not in it)."""
        self._refresh()
        return self.hashes.get(username)

    def _refresh(self) -> None:
        try:
            signature: tuple[int, ...] | None = _signature(os.stat(self.path))
        except OSError:
            signature = None
        if signature == self.signature:
            return
        with self.lock:
            if signature == self.signature:
                return
            try:
                self.load()
            except HtpasswdError as error:
                # Refusing everyone in the file is safer than letting a removed user in.
                log.error("%s; no user of the file can log in until it is fixed", error)
                self.hashes = {}
                self.signature = signature


def _signature(status: os.stat_result) -> tuple[int, ...]:
    return (status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev)


def add_htpasswd_user(request: Any, username: str) -> None:
    """Make ``username``, just authenticated by the htpasswd file, a pyshelf user. A request
    that writes does it in its own transaction (a second writer of this thread would wait for
    the write lock it holds itself); any other in a short one of its own, as a mirror stores a
    page while answering a read. Write transactions are serialised (the write lock on SQLite,
    the state row on PostgreSQL), so the check before the insert holds."""
    uow = request.uow
    if uow.writing:
        _insert_missing(uow.session, username)
        return
    with request.registry.pyshelf.database.writing() as own:
        _insert_missing(own.session, username)


def _insert_missing(session: Any, username: str) -> None:
    exists = session.execute(select(User.id).where(User.name == username)).first()
    if exists is None:
        session.add(User(name=username, password_hash=IN_HTPASSWD_FILE, created=utcnow()))
        session.flush()
