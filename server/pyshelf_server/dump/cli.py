"""The ``pyshelf-export`` and ``pyshelf-import`` commands."""

from __future__ import annotations

import argparse
import secrets
import sys
import warnings
from pathlib import Path
from typing import Any

from ..cli.options import add_option, add_plugins_option
from ..cli.problems import fail
from ..settings import DEFAULT_SERVERDIR, ServerSettings


def add_server_options(parser: argparse.ArgumentParser) -> None:
    # The plugins the server loads: they add index types and the options' defaults.
    add_plugins_option(parser)
    add_option(parser, "--serverdir", str(DEFAULT_SERVERDIR), "the server directory")
    add_option(
        parser, "--db-url", "", "database URL (default: the one the server directory records)"
    )
    add_option(parser, "--storage-url", "", "the file store (default: the server directory's)")


def server_settings(args: argparse.Namespace) -> ServerSettings:
    return ServerSettings(
        serverdir=args.serverdir, db_url=args.db_url or None,
        storage_url=args.storage_url or None,
    )


def open_app(settings: ServerSettings, plugins: str | None) -> Any:
    """The application state of an initialised server directory at the current schema."""
    from .. import migrations
    from ..config import make_app
    from ..db import make_engine
    from ..plugins import UnknownPlugin, make_plugin_manager, parse_plugin_selection
    from ..serverdir import ServerDirError, check_ready

    try:
        pm = make_plugin_manager(only=parse_plugin_selection(plugins))
    except UnknownPlugin as error:
        fail(str(error))
    try:
        check_ready(settings)
    except ServerDirError as error:
        fail(str(error))
    engine = make_engine(settings.database_url, threads=2)
    state = migrations.check(engine)
    if state != migrations.SchemaState.CURRENT:
        fail(f"the database schema is {state}; run 'pyshelf-server --migrate' first")
    return make_app(settings, pm=pm, engine=engine).registry.pyshelf


def export_main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    parser = argparse.ArgumentParser(
        prog="pyshelf-export",
        description="Export users, indexes, projects and files into DIR (devpi's dump format), "
        "safely while the server runs.",
    )
    add_server_options(parser)
    parser.add_argument("--include-mirrors", action="store_true",
                        help="also export the files cached from mirrors")
    parser.add_argument("directory", help="a new or empty directory")
    args = parser.parse_args(argv)
    from .export import export, snapshot_session

    app = open_app(server_settings(args), args.plugins)
    session = snapshot_session(app.database.read_sessions)
    try:
        report = export(session, app.files, Path(args.directory),
                        mirror_types=app.registry.mirror_types,
                        include_mirrors=args.include_mirrors)
    except ValueError as error:
        fail(str(error))
    finally:
        session.close()
        app.files.close()
        app.engine.dispose()
    print(f"exported {report.users} users, {report.indexes} indexes, {report.files} files "
          f"({report.bytes} bytes) into {args.directory}")
    for name in report.missing:
        print(f"left out {name}: deleted while the export ran", file=sys.stderr)


def import_main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    parser = argparse.ArgumentParser(
        prog="pyshelf-import",
        description="Import an export of pyshelf or devpi-server (DIR) into a new server "
        "directory, or a folder of sdists and wheels into one index (--from-dir).",
    )
    add_server_options(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("directory", nargs="?", help="a pyshelf-export or devpi-export dump")
    source.add_argument("--from-devpi", metavar="DUMP",
                        help="a dump written by devpi-export (the same as DIR)")
    source.add_argument("--from-dir", metavar="PACKAGES",
                        help="a folder of sdists and wheels, read recursively")
    parser.add_argument("--index", metavar="USER/INDEX",
                        help="with --from-dir: the index to load into (made if missing)")
    parser.add_argument("--uploader", default="root",
                        help="with --from-dir: who the files are recorded as uploaded by")
    args = parser.parse_args(argv)
    from ..serverdir import ServerDirError, initialise, is_initialised
    from .importer import DumpError, Importer

    settings = server_settings(args)
    if args.from_dir:
        if not args.index or args.index.count("/") != 1:
            fail("--from-dir needs --index USER/INDEX")
    elif not is_initialised(settings):
        # A new server; the dump's root user (and its password) replaces this one's.
        try:
            initialise(settings, root_password=secrets.token_urlsafe(24))
        except ServerDirError as error:
            fail(str(error))
    app = open_app(settings, args.plugins)
    uow = app.database.unit_of_work(write=True)
    importer = Importer(app, uow)
    try:
        if args.from_dir:
            report = importer.import_directory(Path(args.from_dir), args.index, args.uploader)
        else:
            report = importer.import_dump(Path(args.directory or args.from_devpi))
        uow.commit()
    except DumpError as error:
        uow.rollback()
        fail(f"nothing imported: {error}")
    except BaseException:
        uow.rollback()
        raise
    finally:
        app.files.close()
        app.engine.dispose()
    for note in report.notes:
        print(f"note: {note}")
    print(f"imported {report.users} users, {report.indexes} indexes, {report.files} files"
          + (f" ({report.unchanged} already there)" if report.unchanged else ""))
