"""Creating and opening a server directory: database schema, secret, root user."""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path

from sqlalchemy import select

from . import __version__, migrations
from .db import ServerState, make_engine, new_token
from .indexes.models import Index
from .settings import ServerSettings
from .storage.files import StorageError, open_store
from .unit_of_work import Database


class ServerDirError(Exception):
    """The server directory cannot be used as asked; the message says what to do."""


def is_initialised(settings: ServerSettings) -> bool:
    return settings.version_file.exists()


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


ROOT_PASSWORD_FILE = ".root-password"  # noqa: S105 - a file name


def update_root_password_file(serverdir: Path, password: str | None) -> None:
    """After root's password changed, the generated one in ``SERVERDIR/.root-password`` is
    stale: the file gets the new password (``None``: given only as a hash, the file goes)."""
    path = serverdir / ROOT_PASSWORD_FILE
    if not path.exists():
        return
    if password is None:
        path.unlink(missing_ok=True)
        return
    fresh = path.with_name(ROOT_PASSWORD_FILE + ".new")
    fresh.unlink(missing_ok=True)
    write_private(fresh, password + "\n")
    os.replace(fresh, path)


def load_secret(database: Database, settings: ServerSettings) -> bytes:
    """The server secret, from the database. A database from before the secret moved there
    gets the server directory's old ``.secret`` (tokens issued before stay valid), or a new
    one; under the write lock, so that processes starting together agree on one."""
    with database.writing() as uow:
        state = uow.session.get(ServerState, 1)
        if state.secret is None:
            legacy = settings.legacy_secret_file
            state.secret = (
                legacy.read_text().strip() if legacy.exists() else secrets.token_urlsafe(48)
            )
        return state.secret.encode("ascii")


def _prepare_directory(settings: ServerSettings) -> None:
    if is_initialised(settings):
        raise ServerDirError(
            f"{settings.serverdir} is already initialised; refusing to overwrite it"
        )
    settings.serverdir.mkdir(parents=True, exist_ok=True)
    if any(settings.serverdir.iterdir()):
        raise ServerDirError(
            f"{settings.serverdir} is not empty; refusing to initialise a server in it"
        )
    os.chmod(settings.serverdir, 0o700)
    if isinstance(settings.storage, Path):
        settings.storage.mkdir(parents=True, exist_ok=True)
    try:
        # Makes a directory store's fan-out directories now rather than at the first start,
        # and checks that an S3 bucket can be reached before anything is written.
        open_store(settings).close()
    except StorageError as error:
        raise ServerDirError(str(error)) from None
    if settings.db_url:
        # Remembered so that later starts find the database without --db-url; it may hold a
        # password, hence private.
        write_private(settings.db_url_file, settings.db_url + "\n")
    if settings.storage_url:
        write_private(settings.storage_url_file, settings.storage_url + "\n")


def join(settings: ServerSettings) -> None:
    """Set up a server directory for one more server process on an existing database and
    store (``pyshelf-init --join``): nothing in the database changes."""
    engine = make_engine(settings.database_url)
    try:
        state = migrations.check(engine)
        if state == migrations.SchemaState.EMPTY:
            raise ServerDirError(
                "the database holds no pyshelf server to join; run pyshelf-init without --join"
            )
        if state == migrations.SchemaState.NEWER:
            raise ServerDirError(
                "the database schema is newer than this pyshelf; upgrade pyshelf first"
            )
    finally:
        engine.dispose()
    _prepare_directory(settings)
    settings.version_file.write_text(__version__ + "\n")


def initialise(
    settings: ServerSettings,
    *,
    root_password: str,
    mirror_url: str | None = None,
    mirror_web_url_fmt: str | None = None,
) -> None:
    """Create a new server directory. Refuses an existing one.

    With ``mirror_url``, also create ``root/pypi``: a non-volatile mirror of that index, as
    devpi-init does.
    """
    _prepare_directory(settings)

    engine = make_engine(settings.database_url)
    try:
        migrations.upgrade(engine)
        # A fresh server starts at serial 0, as devpi's does: setting it up is no change.
        with Database(engine).writing(counts_as_change=False) as uow:
            session = uow.session
            state = session.get(ServerState, 1)
            if state is None:
                session.add(
                    ServerState(
                        id=1, uuid=new_token(), serial=0, secret=secrets.token_urlsafe(48)
                    )
                )
            elif session.execute(select(ServerState.serial)).scalar_one() != 0:
                raise ServerDirError(
                    "the database already holds a pyshelf server; to run one more process on "
                    "it, use 'pyshelf-init --join'"
                )
            from .accounts.services import UserService, checked_user_fields

            root = UserService(uow).create(
                "root", checked_user_fields({"password": root_password}), check_name=False
            )
            if mirror_url:
                options = {"title": "PyPI", "mirror_url": mirror_url}
                if mirror_web_url_fmt:
                    options["mirror_web_url_fmt"] = mirror_web_url_fmt
                session.add(
                    Index(user=root, name="pypi", type="mirror", volatile=False, options=options)
                )
    finally:
        engine.dispose()
    settings.version_file.write_text(__version__ + "\n")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_access(serverdir: Path) -> None:
    """Refuse, saying what to do, a server directory (or a file in it) that this user may not
    read and write: typically one made by another user (root, or a service account)."""
    me = _user_name(os.geteuid())
    try:
        if not serverdir.exists():
            return
    except PermissionError:
        raise ServerDirError(
            f"user {me!r} may not reach the server directory {serverdir}: run pyshelf-server "
            "as the user that owns it, or choose another --serverdir"
        ) from None
    paths = [serverdir]
    if os.access(serverdir, os.R_OK | os.X_OK):
        paths.extend(serverdir.iterdir())
    for path in paths:
        if os.access(path, os.R_OK | os.W_OK):
            continue
        owner = _user_name(path.stat().st_uid)
        what = "the server directory" if path == serverdir else f"{path.name} in it"
        if owner == me:
            raise ServerDirError(
                f"{what} ({path}) is not readable and writable by its owner {me!r}: "
                f"chmod -R u+rwX {serverdir}"
            )
        raise ServerDirError(
            f"{what} ({path}) belongs to user {owner!r} and user {me!r} may not use it: "
            f"run pyshelf-server as {owner!r}, or make this user its owner "
            f"(chown -R {me} {serverdir})"
        )


def check_ready(settings: ServerSettings) -> None:
    check_access(settings.serverdir)
    if not is_initialised(settings):
        raise ServerDirError(
            f"{settings.serverdir} is not an initialised pyshelf server directory; "
            f"run 'pyshelf-init --serverdir {settings.serverdir}' first"
        )
