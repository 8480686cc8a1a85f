"""``pyshelf-server``: check the options, the server directory and the database, then serve
(or run one of the maintenance jobs and exit)."""

from __future__ import annotations

import signal
import time
import warnings
from typing import Any

from .. import __version__
from ..settings import (
    MIN_ORPHAN_GRACE_SECONDS,
    ServerSettings,
    oidc_audience_problem,
    outside_url_problem,
)
from .maintenance import cleanup_once, migrate_once, sweep_once
from .options import selected_plugins, server_parser, settings_from_args
from .problems import (
    database_problem,
    fail,
    listen_problem,
    sqlite_lock_problem,
    storage_problem,
)


def server_main(argv: list[str] | None = None) -> None:
    # Pyramid still imports pkg_resources; the warning is about Pyramid, not about this server.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from ..plugins import UnknownPlugin, make_plugin_manager, plugin_versions

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
    from ..oidc.issuers import parse_issuer_options

    try:
        parse_issuer_options(settings.oidc_issuers)
    except ValueError as error:
        fail(f"--oidc-issuer: {error}")
    from ..upload.targets import AllowedHosts

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
    from .. import logs

    try:
        logs.configure(
            quiet=args.quiet, debug=settings.debug, log_file=args.log_file,
            log_format=args.log_format,
        )
    except OSError as error:
        fail(f"--log-file: cannot write {args.log_file!r}: {error.strerror}")
    from .. import migrations
    from ..db import make_engine
    from ..serverdir import ServerDirError, check_ready

    try:
        check_ready(settings)
    except ServerDirError as error:
        fail(str(error))
    problem = storage_problem(settings)
    if problem:
        fail(problem)
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
        migrate_once(settings, engine)
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


def serve(settings: ServerSettings, *, pm: Any, engine: Any) -> None:
    from .. import logs
    from ..config import make_app
    from ..memory import fix_mmap_threshold
    from ..nodes import NodeRegistry, SettingsDisagree
    from ..wsgiserver import ConnectionLimitError, connection_limit, make_server

    started = time.perf_counter()
    try:
        connections = connection_limit(settings.connection_limit, settings.threads)
    except ConnectionLimitError as error:
        fail(str(error))
    fix_mmap_threshold()
    from sqlalchemy.exc import OperationalError

    from ..accounts.htpasswd import HtpasswdError
    from ..storage.files import StorageError

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

