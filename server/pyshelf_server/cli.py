"""The ``pyshelf-init`` and ``pyshelf-server`` commands.

Every option of ``pyshelf-server`` can also be set by an environment variable named after it
(``--serverdir`` → ``PYSHELF_SERVERDIR``, ``--max-upload-size`` → ``PYSHELF_MAX_UPLOAD_SIZE``);
the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import signal
import socket
import sys
import time
import warnings
from typing import Any

from . import __version__
from .settings import (
    CLEANUP_INTERVAL,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_MAX_UPLOAD_SIZE,
    DEFAULT_OIDC_AUDIENCE,
    DEFAULT_SERVERDIR,
    MIN_ORPHAN_GRACE_SECONDS,
    ORPHAN_GRACE_SECONDS,
    ServerSettings,
    oidc_audience_problem,
    outside_url_problem,
)

TRUE = ("1", "true", "yes", "on")


def env_name(option: str) -> str:
    return "PYSHELF_" + option.lstrip("-").upper().replace("-", "_")


def env_default(option: str, default: Any) -> Any:
    """The default of ``option``: its environment variable, converted like ``default``."""
    raw = os.environ.get(env_name(option))
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in TRUE
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def _add(parser: argparse.ArgumentParser, option: str, default: Any, help: str, **kw: Any) -> None:
    value = env_default(option, default)
    if isinstance(default, bool):
        parser.add_argument(
            option, action="store_true", default=value, help=f"{help} [{env_name(option)}]"
        )
    else:
        kind = type(default) if default is not None else str
        parser.add_argument(
            option,
            type=kind,
            default=value,
            help=f"{help} [{env_name(option)}, default: %(default)s]",
            **kw,
        )


def _add_plugins_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugins",
        default=os.environ.get(env_name("--plugins")),
        metavar="NAME,…",
        help="load only these installed plugins (comma separated; empty: none) "
        f"[{env_name('--plugins')}, default: every installed plugin]",
    )


def selected_plugins(argv: list[str] | None) -> list[str] | None:
    """The ``--plugins`` selection, read before the full parser exists: the plugins it loads
    add options of their own."""
    from .plugins import parse_plugin_selection

    early = argparse.ArgumentParser(add_help=False)
    _add_plugins_option(early)
    known, _rest = early.parse_known_args(argv)
    return parse_plugin_selection(known.plugins)


def fail(message: str) -> None:
    print(f"pyshelf: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def init_main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from .serverdir import ServerDirError, initialise, join

    parser = argparse.ArgumentParser(
        prog="pyshelf-init", description="Create a new pyshelf server directory."
    )
    _add(parser, "--serverdir", str(DEFAULT_SERVERDIR), "the server directory to create")
    _add(parser, "--db-url", "", "database URL (default: SQLite in the server directory)")
    _add(
        parser,
        "--storage-url",
        "",
        "the file store: a directory, or s3://BUCKET/PREFIX "
        "(default: files in the server directory)",
    )
    _add(
        parser,
        "--s3-endpoint-url",
        "",
        "endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="set up a server directory for one more server process on the existing database "
        "(--db-url) and store (--storage-url) of a running pyshelf; changes nothing in them",
    )
    parser.add_argument(
        "--root-passwd",
        # From the environment too, so that scripts (the container's entrypoint) need not put
        # it in an argument list, where every process could read it.
        default=os.environ.get("PYSHELF_ROOT_PASSWORD") or None,
        help="password of the root user [PYSHELF_ROOT_PASSWORD] "
        "(default: a random one, printed once and stored in SERVERDIR/.root-password)",
    )
    parser.add_argument(
        "--mirror-url",
        default=None,
        help="upstream of the root/pypi mirror "
        "(default: the index pip uses here: PIP_INDEX_URL, pip's global.index-url, "
        "else pip's built-in default)",
    )
    parser.add_argument(
        "--no-root-pypi", action="store_true", help="do not create the root/pypi mirror"
    )
    args = parser.parse_args(argv)
    settings = ServerSettings(
        serverdir=args.serverdir,
        db_url=args.db_url or None,
        storage_url=args.storage_url or None,
        s3_endpoint_url=args.s3_endpoint_url or None,
    )
    storage_problem = _storage_problem(settings)
    if storage_problem:
        fail(storage_problem)
    if args.join:
        if not settings.db_url:
            fail("--join needs the --db-url of the database to join")
        try:
            join(settings)
        except ServerDirError as error:
            fail(str(error))
        except Exception as error:  # e.g. an unreachable database
            fail(f"could not join {settings.database_url!r}: {error}")
        print(f"server directory {settings.serverdir} joins the pyshelf server on that database")
        return
    mirror_url, web_url_fmt = None, None
    if not args.no_root_pypi:
        from .mirror.pipconfig import PipConfigError, pip_index_url, web_url_format

        try:
            mirror_url = args.mirror_url or pip_index_url()
        except PipConfigError as error:
            fail(str(error))
        if not mirror_url.startswith(("http://", "https://")):
            fail(f"the mirror URL must be an http(s) URL, not {mirror_url!r}; pass --mirror-url")
        web_url_fmt = web_url_format(mirror_url)
    password = args.root_passwd
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    try:
        initialise(
            settings, root_password=password, mirror_url=mirror_url, mirror_web_url_fmt=web_url_fmt
        )
    except ServerDirError as error:
        fail(str(error))
    except Exception as error:  # e.g. an unreachable database
        fail(f"could not initialise {settings.serverdir}: {error}")
    if generated:
        from .serverdir import ROOT_PASSWORD_FILE, write_private

        stored = settings.serverdir / ROOT_PASSWORD_FILE
        write_private(stored, password + "\n")
        print(f"root password: {password}")
        print(f"(stored in {stored}, readable only by you)")
    print(f"initialised pyshelf server directory {settings.serverdir}")


def server_parser(pm: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyshelf-server", description="Run the pyshelf server.")
    parser.add_argument(
        "--version", action="store_true", help="print the version and the loaded plugins"
    )
    _add_plugins_option(parser)
    _add(parser, "--serverdir", str(DEFAULT_SERVERDIR), "the server directory")
    _add(parser, "--host", "127.0.0.1", "address to listen on")
    _add(parser, "--port", 3141, "port to listen on")
    _add(parser, "--threads", 16, "worker threads")
    _add(
        parser,
        "--db-url",
        "",
        "database URL (default: SQLite in the server directory; "
        "postgresql+psycopg://… for PostgreSQL)",
    )
    _add(
        parser,
        "--storage-url",
        "",
        "the file store, shared by every server process on one database: a directory, or "
        "s3://BUCKET/PREFIX (default: the one pyshelf-init recorded, else files in the "
        "server directory)",
    )
    _add(
        parser,
        "--s3-endpoint-url",
        "",
        "endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL, else AWS)",
    )
    _add(
        parser,
        "--s3-redirect",
        False,
        "answer downloads from an S3 store with a redirect to a presigned URL instead of "
        "streaming them through the server",
    )
    _add(
        parser,
        "--outside-url",
        "",
        "the URL clients reach the server at; simple pages then link their files by it",
    )
    _add(parser, "--absolute-urls", False, "use absolute URLs on simple pages")
    _add(
        parser,
        "--allow-user-registration",
        False,
        "let anyone create a user (devpi's default; off here)",
    )
    _add(parser, "--max-upload-size", DEFAULT_MAX_UPLOAD_SIZE, "largest accepted upload in bytes")
    _add(
        parser,
        "--max-header-size",
        DEFAULT_MAX_HEADER_SIZE,
        "largest accepted request line and headers together, in bytes (larger: 431)",
    )
    _add(
        parser,
        "--connection-limit",
        0,
        "client connections taken at once; more wait for a free one "
        "(0: as many as the open-files limit leaves room for, at most 10000)",
    )
    _add(
        parser,
        "--idle-timeout",
        DEFAULT_IDLE_TIMEOUT,
        "seconds a connection may stay open without sending or awaiting a request",
    )
    _add(parser, "--login-token-seconds", 36000, "how long a login token is valid")
    _add(
        parser,
        "--token-default-seconds",
        365 * 24 * 3600,
        "how long an API token is valid when its creator asks for no expiry",
    )
    _add(
        parser,
        "--token-max-seconds",
        365 * 24 * 3600,
        "the longest validity a user other than root may give an API token",
    )
    _add(parser, "--mirror-cache-expiry", 1800, "seconds a mirrored page stays fresh")
    _add(parser, "--request-timeout", 60.0, "seconds to wait for an upstream index")
    _add(
        parser,
        "--connect-timeout",
        5.0,
        "seconds to wait for a connection to an upstream index or a push target",
    )
    _add(
        parser,
        "--upstream-threads",
        0,
        "worker threads that may wait on one upstream host at once; requests beyond that get "
        "the cached page or a 503 at once (0: half of --threads, at least 1)",
    )
    _add(parser, "--allow-user-mirrors", False, "let users other than root create mirror indexes")
    _add(
        parser,
        "--push-allow-hosts",
        "",
        "comma list of host names, addresses and CIDR networks that external pushes may reach "
        "although they are loopback, link-local or private",
    )
    _add(parser, "--offline-mode", False, "serve mirrors only from what is cached")
    _add(parser, "--debug", False, "log at debug level, the libraries' messages included")
    _add(parser, "--quiet", False, "log only warnings and errors: no request log, no events")
    _add(parser, "--log-file", "", "write the log to this file as well as to stderr")
    _add(
        parser,
        "--log-format",
        "text",
        "'text', or 'json' for one JSON object a line (for log shippers)",
        choices=("text", "json"),
    )
    _add(
        parser,
        "--orphan-grace-seconds",
        ORPHAN_GRACE_SECONDS,
        "stored files no row refers to (left by a crash) are removed once untouched this long; "
        "must exceed the longest upload",
    )
    _add(
        parser,
        "--cleanup-interval",
        CLEANUP_INTERVAL,
        "seconds between runs of the indexes' retention rules, by one of the processes sharing "
        "the database (0: only when 'pyshelf-server --cleanup' is run)",
    )
    _add(parser, "--no-metrics", False, "count nothing and serve no /+metrics")
    _add(
        parser,
        "--metrics-token",
        "",
        "serve /+metrics only to requests with 'Authorization: Bearer TOKEN' (default: to anyone)",
    )
    _add(
        parser,
        "--x-accel-redirect",
        "",
        "behind nginx: answer stored files with an X-Accel-Redirect to PREFIX/<path in the "
        "store> and let nginx send them (an internal location aliased to the store)",
    )
    _add(
        parser,
        "--default-index",
        "",
        "USER/INDEX that pypiserver's URLs serve: /simple/ and uploads to / (for teams moving "
        "over from pypiserver)",
    )
    _add(
        parser,
        "--trusted-publishing",
        False,
        "let CI jobs trade their OIDC ID token for a 15-minute upload token "
        "(/_/oidc/mint-token), for the publishers each index lists in 'trusted_publishers'",
    )
    _add(
        parser,
        "--oidc-audience",
        DEFAULT_OIDC_AUDIENCE,
        "the audience ID tokens must be made for (unique to this server; never pypi or testpypi)",
    )
    parser.add_argument(
        "--oidc-issuer",
        action="append",
        metavar="PROVIDER=URL",
        default=None,
        help="allow one more OIDC issuer for PROVIDER (github, gitlab, google), e.g. "
        "github=https://HOST/_services/token for GitHub Enterprise; repeatable; https only, "
        "plain http only on loopback (tests) "
        f"[{env_name('--oidc-issuer')}, space separated]",
    )
    _add(
        parser,
        "--htpasswd",
        "",
        "an Apache htpasswd file (bcrypt, SHA1, apr1 MD5 or crypt lines) whose users log in with "
        "its passwords; read again whenever it changes",
        metavar="FILE",
    )
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="upgrade the database schema and the file store's layout, and exit",
    )
    parser.add_argument(
        "--sweep-orphans",
        action="store_true",
        help="remove stored files no row refers to (as the server does every grace period), "
        "and exit",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="apply the indexes' retention rules now (as the server does every "
        "--cleanup-interval), report what was deleted and the bytes freed, and exit",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --cleanup: list what the rules would delete and the bytes that would free, "
        "and delete nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --cleanup: apply the release rules to non-volatile stages too",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --cleanup: print the report as JSON"
    )
    pm.hook.pyshelf_add_parser_options(parser=parser)
    return parser


CORE_OPTIONS = {
    "serverdir",
    "host",
    "port",
    "threads",
    "db_url",
    "storage_url",
    "s3_endpoint_url",
    "s3_redirect",
    "outside_url",
    "absolute_urls",
    "allow_user_registration",
    "max_upload_size",
    "max_header_size",
    "connection_limit",
    "idle_timeout",
    "login_token_seconds",
    "token_default_seconds",
    "token_max_seconds",
    "mirror_cache_expiry",
    "request_timeout",
    "connect_timeout",
    "upstream_threads",
    "allow_user_mirrors",
    "push_allow_hosts",
    "offline_mode",
    "debug",
    "orphan_grace_seconds",
    "cleanup_interval",
    "metrics_token",
    "x_accel_redirect",
    "default_index",
    "trusted_publishing",
    "oidc_audience",
    "oidc_issuers",
    "htpasswd",
}


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    values = dict(vars(args))
    # Given on the command line, the issuers replace those of the environment.
    values["oidc_issuers"] = (
        values.pop("oidc_issuer") or os.environ.get(env_name("--oidc-issuer"), "").split()
    )
    core = {k: values[k] for k in CORE_OPTIONS}
    core["db_url"] = core["db_url"] or None
    core["storage_url"] = core["storage_url"] or None
    core["s3_endpoint_url"] = core["s3_endpoint_url"] or None
    core["outside_url"] = core["outside_url"] or None
    actions = (
        "version", "migrate", "sweep_orphans", "plugins", "no_metrics", "cleanup", "dry_run",
        "force", "json", "quiet", "log_file", "log_format",
    )
    extra = {k: v for k, v in values.items() if k not in CORE_OPTIONS and k not in actions}
    return ServerSettings(**core, metrics=not values["no_metrics"], options=extra)


def server_main(argv: list[str] | None = None) -> None:
    # Pyramid still imports pkg_resources; the warning is about Pyramid, not about this server.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from .plugins import UnknownPlugin, make_plugin_manager, plugin_versions

    try:
        pm = make_plugin_manager(only=selected_plugins(argv))
    except UnknownPlugin as error:
        fail(f"--plugins: {error}")
    args = server_parser(pm).parse_args(argv)
    if args.version:
        print(f"pyshelf-server {__version__}")
        for name, version in plugin_versions(pm).items():
            print(f"{name} {version}")
        return
    settings = settings_from_args(args)
    if settings.outside_url:
        problem = outside_url_problem(settings.outside_url)
        if problem:
            fail(
                f"--outside-url must be an http or https URL ({problem}): {settings.outside_url!r}"
            )
    if settings.x_accel_redirect and not settings.x_accel_redirect.startswith("/"):
        fail("--x-accel-redirect must be a path prefix starting with '/', e.g. /+store/")
    if settings.default_index and (
        settings.default_index.count("/") != 1 or "" in settings.default_index.split("/")
    ):
        fail(f"--default-index must be USER/INDEX, not {settings.default_index!r}")
    if settings.connection_limit < 0:
        fail("--connection-limit must be 0 (derived from the open-files limit) or more")
    if settings.idle_timeout < 1:
        fail("--idle-timeout must be at least 1 second")
    if settings.max_header_size < 4096:
        fail("--max-header-size must be at least 4096 bytes")
    if settings.orphan_grace_seconds < MIN_ORPHAN_GRACE_SECONDS:
        fail(
            f"--orphan-grace-seconds must be at least {MIN_ORPHAN_GRACE_SECONDS} "
            "(longer than the longest upload)"
        )
    audience_problem = oidc_audience_problem(settings.oidc_audience)
    if audience_problem:
        fail(f"--oidc-audience: {audience_problem}")
    from .oidc.issuers import parse_issuer_options

    try:
        parse_issuer_options(settings.oidc_issuers)
    except ValueError as error:
        fail(f"--oidc-issuer: {error}")
    from .upload.targets import AllowedHosts

    try:
        AllowedHosts.parse(settings.push_allow_hosts)
    except ValueError as error:
        fail(f"--push-allow-hosts: {error}")
    if settings.cleanup_interval < 0:
        fail("--cleanup-interval must be 0 (no scheduled clean-up) or more seconds")
    if (args.dry_run or args.force or args.json) and not args.cleanup:
        fail("--dry-run, --force and --json go with --cleanup")
    if settings.connect_timeout <= 0 or settings.upstream_threads < 0:
        fail("--connect-timeout must be positive and --upstream-threads not negative")
    from . import logs

    try:
        logs.configure(
            quiet=args.quiet, debug=settings.debug, log_file=args.log_file,
            log_format=args.log_format,
        )
    except OSError as error:
        fail(f"--log-file: cannot write {args.log_file!r}: {error.strerror}")
    from . import migrations
    from .db import make_engine
    from .serverdir import ServerDirError, check_ready

    try:
        check_ready(settings)
    except ServerDirError as error:
        fail(str(error))
    storage_problem = _storage_problem(settings)
    if storage_problem:
        fail(storage_problem)
    engine = make_engine(settings.database_url, threads=settings.threads)
    try:
        state = migrations.check(engine)
    except Exception as error:
        fail(database_problem(engine, error))
    if state == migrations.SchemaState.NEWER:
        fail(
            f"the database schema is newer than this pyshelf-server {__version__} (a newer "
            "version wrote it): upgrade pyshelf-server to the version that wrote it, or "
            "restore a backup made with this one"
        )
    locked = sqlite_lock_problem(engine)
    if locked:
        fail(locked)
    if args.migrate:
        migrations.upgrade(engine)
        print("database schema is up to date")
        from .db import vacuum_incrementally

        if vacuum_incrementally(engine):
            print("the SQLite database now gives the space of deleted rows back to the disk")
        files = _open_store(settings)
        moved = files.flatten()
        files.close()
        if moved:
            print(f"moved {moved} stored files to the flat layout")
        return
    if state == migrations.SchemaState.OLDER:
        fail(
            "the database schema is older than this pyshelf-server; run 'pyshelf-server --migrate'"
        )
    if state == migrations.SchemaState.EMPTY:
        fail("the database is empty; run 'pyshelf-init' first")
    if args.sweep_orphans:
        sweep_once(settings, engine)
        return
    if args.cleanup:
        cleanup_once(settings, engine, dry_run=args.dry_run, force=args.force, as_json=args.json)
        return
    serve(settings, pm=pm, engine=engine)


def sweep_once(settings: ServerSettings, engine: Any) -> None:
    from .storage.orphans import OrphanSweeper
    from .unit_of_work import Database

    files = _open_store(settings)
    try:
        sweeper = OrphanSweeper(
            Database(engine), files, grace_seconds=settings.orphan_grace_seconds
        )
        removed = sweeper.sweep()
    finally:
        files.close()
        engine.dispose()
    print(f"removed {removed} stored files no row referred to")


def cleanup_once(
    settings: ServerSettings, engine: Any, *, dry_run: bool, force: bool, as_json: bool
) -> None:
    from .retention.cleanup import run_cleanup
    from .unit_of_work import Database

    files = _open_store(settings)
    try:
        report = run_cleanup(Database(engine), files, dry_run=dry_run, force=force)
    finally:
        files.close()
        engine.dispose()
    if as_json:
        print(json.dumps(report.as_json()))
        return
    would = "would " if dry_run else ""
    for cleanup in report.indexes:
        if cleanup.skipped:
            print(f"{cleanup.index}: skipped ({cleanup.skipped})")
            continue
        if dry_run:
            for removal in cleanup.removals:
                print(
                    f"{cleanup.index}: {removal.rule}: {removal.filename} "
                    f"({removal.size} bytes)"
                )
        print(
            f"{cleanup.index}: {would}delete {cleanup.files} files, {would}free "
            f"{cleanup.bytes_freed} bytes ({cleanup.blobs_removed} stored files)"
        )
    print(f"total: {would}delete {report.files} files, {would}free {report.bytes_freed} bytes")
    if report.database_bytes_freed:
        print(f"the database file gave {report.database_bytes_freed} bytes back to the disk")


def _storage_problem(settings: ServerSettings) -> str | None:
    """What is wrong with the store's settings, before anything is opened."""
    from .settings import S3Location

    try:
        storage = settings.storage
    except ValueError as error:
        return str(error)
    if settings.s3_redirect and not isinstance(storage, S3Location):
        return "--s3-redirect needs an s3:// --storage-url"
    return None


def _open_store(settings: ServerSettings) -> Any:
    from .storage.files import StorageError, open_store

    try:
        return open_store(settings)
    except StorageError as error:
        fail(str(error))


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


def serve(settings: ServerSettings, *, pm: Any, engine: Any) -> None:
    from . import logs
    from .config import make_app
    from .memory import fix_mmap_threshold
    from .nodes import NodeRegistry, SettingsDisagree
    from .wsgiserver import ConnectionLimitError, connection_limit, make_server

    started = time.perf_counter()
    try:
        connections = connection_limit(settings.connection_limit, settings.threads)
    except ConnectionLimitError as error:
        fail(str(error))
    fix_mmap_threshold()
    from sqlalchemy.exc import OperationalError

    from .accounts.htpasswd import HtpasswdError
    from .storage.files import StorageError

    try:
        app = make_app(settings, pm=pm, engine=engine)
    except (StorageError, HtpasswdError) as error:
        engine.dispose()
        fail(str(error))
    except OperationalError as error:
        engine.dispose()
        fail(database_problem(engine, error))
    state = app.registry.pyshelf
    code = pm.hook.pyshelf_cmdline_run(registry=app.registry)
    if code is not None:
        engine.dispose()
        raise SystemExit(code)
    # Listening before anything starts: a port in use ends the start with nothing to undo.
    try:
        server = make_server(
            app,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            max_request_body_size=settings.max_upload_size + 16 * 1024 * 1024,
            max_request_header_size=settings.max_header_size,
            ident="pyshelf",
            clear_untrusted_proxy_headers=True,
            connection_limit=connections,
            idle_timeout=settings.idle_timeout,
        )
    except OSError as error:
        engine.dispose()
        fail(listen_problem(settings.host, settings.port, error))
    node = NodeRegistry(state.database, settings, state.plugins)
    try:
        node.register()
    except SettingsDisagree as error:
        server.close()
        engine.dispose()
        fail(str(error))
    node.start()
    state.downloads.start()
    state.orphans.start()
    state.retention.start()
    pm.hook.pyshelf_server_start(registry=app.registry)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"pyshelf-server {__version__} serving {settings.serverdir} at "
        f"http://{settings.host}:{server.effective_port}/ "
        f"(ready in {time.perf_counter() - started:.2f}s)",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        logs.event("shutting down: closing connections and background work")
        server.close()
        pm.hook.pyshelf_server_stop(registry=app.registry)
        state.retention.stop()
        state.downloads.stop()
        state.orphans.stop()
        node.stop()
        state.files.close()
        engine.dispose()
        logs.event("pyshelf-server stopped")
