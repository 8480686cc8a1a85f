"""``pyshelf-server``'s command line and the settings it makes.

Every option of ``pyshelf-server`` can also be set by an environment variable named after it
(``--serverdir`` → ``PYSHELF_SERVERDIR``, ``--max-upload-size`` → ``PYSHELF_MAX_UPLOAD_SIZE``);
the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..settings import (
    CLEANUP_INTERVAL,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_MAX_UPLOAD_SIZE,
    DEFAULT_OIDC_AUDIENCE,
    DEFAULT_SERVERDIR,
    ORPHAN_GRACE_SECONDS,
    ServerSettings,
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


def add_option(
    parser: argparse.ArgumentParser, option: str, default: Any, help: str, **kw: Any
) -> None:
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


def add_plugins_option(parser: argparse.ArgumentParser) -> None:
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
    from ..plugins import parse_plugin_selection

    early = argparse.ArgumentParser(add_help=False)
    add_plugins_option(early)
    known, _rest = early.parse_known_args(argv)
    return parse_plugin_selection(known.plugins)


def server_parser(pm: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyshelf-server", description="Run the pyshelf server.")
    parser.add_argument(
        "--version", action="store_true", help="print the version and the loaded plugins"
    )
    add_plugins_option(parser)
    add_option(parser, "--serverdir", str(DEFAULT_SERVERDIR), "the server directory")
    add_option(parser, "--host", "127.0.0.1", "address to listen on")
    add_option(parser, "--port", 3141, "port to listen on")
    add_option(parser, "--threads", 16, "worker threads")
    add_option(
        parser,
        "--db-url",
        "",
        "database URL (default: SQLite in the server directory; "
        "postgresql+psycopg://… for PostgreSQL)",
    )
    add_option(
        parser,
        "--storage-url",
        "",
        "the file store, shared by every server process on one database: a directory, or "
        "s3://BUCKET/PREFIX (default: the one pyshelf-init recorded, else files in the "
        "server directory)",
    )
    add_option(
        parser,
        "--s3-endpoint-url",
        "",
        "endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL, else AWS)",
    )
    add_option(
        parser,
        "--s3-redirect",
        False,
        "answer downloads from an S3 store with a redirect to a presigned URL instead of "
        "streaming them through the server",
    )
    add_option(
        parser,
        "--outside-url",
        "",
        "the URL clients reach the server at; simple pages then link their files by it",
    )
    add_option(parser, "--absolute-urls", False, "use absolute URLs on simple pages")
    add_option(
        parser,
        "--allow-user-registration",
        False,
        "let anyone create a user (devpi's default; off here)",
    )
    add_option(
        parser, "--max-upload-size", DEFAULT_MAX_UPLOAD_SIZE, "largest accepted upload in bytes"
    )
    add_option(
        parser,
        "--max-header-size",
        DEFAULT_MAX_HEADER_SIZE,
        "largest accepted request line and headers together, in bytes (larger: 431)",
    )
    add_option(
        parser,
        "--connection-limit",
        0,
        "client connections taken at once; more wait for a free one "
        "(0: as many as the open-files limit leaves room for, at most 10000)",
    )
    add_option(
        parser,
        "--idle-timeout",
        DEFAULT_IDLE_TIMEOUT,
        "seconds a connection may stay open without sending or awaiting a request",
    )
    add_option(parser, "--login-token-seconds", 36000, "how long a login token is valid")
    add_option(
        parser,
        "--token-default-seconds",
        365 * 24 * 3600,
        "how long an API token is valid when its creator asks for no expiry",
    )
    add_option(
        parser,
        "--token-max-seconds",
        365 * 24 * 3600,
        "the longest validity a user other than root may give an API token",
    )
    add_option(parser, "--mirror-cache-expiry", 1800, "seconds a mirrored page stays fresh")
    add_option(parser, "--request-timeout", 60.0, "seconds to wait for an upstream index")
    add_option(
        parser,
        "--connect-timeout",
        5.0,
        "seconds to wait for a connection to an upstream index or a push target",
    )
    add_option(
        parser,
        "--upstream-threads",
        0,
        "worker threads that may wait on one upstream host at once; requests beyond that get "
        "the cached page or a 503 at once (0: half of --threads, at least 1)",
    )
    add_option(
        parser, "--allow-user-mirrors", False, "let users other than root create mirror indexes"
    )
    add_option(
        parser,
        "--push-allow-hosts",
        "",
        "comma list of host names, addresses and CIDR networks that external pushes may reach "
        "although they are loopback, link-local or private",
    )
    add_option(parser, "--offline-mode", False, "serve mirrors only from what is cached")
    add_option(parser, "--debug", False, "log at debug level, the libraries' messages included")
    add_option(parser, "--quiet", False, "log only warnings and errors: no request log, no events")
    add_option(parser, "--log-file", "", "write the log to this file as well as to stderr")
    add_option(
        parser,
        "--log-format",
        "text",
        "'text', or 'json' for one JSON object a line (for log shippers)",
        choices=("text", "json"),
    )
    add_option(
        parser,
        "--orphan-grace-seconds",
        ORPHAN_GRACE_SECONDS,
        "stored files no row refers to (left by a crash) are removed once untouched this long; "
        "must exceed the longest upload",
    )
    add_option(
        parser,
        "--cleanup-interval",
        CLEANUP_INTERVAL,
        "seconds between runs of the indexes' retention rules, by one of the processes sharing "
        "the database (0: only when 'pyshelf-server --cleanup' is run)",
    )
    add_option(parser, "--no-metrics", False, "count nothing and serve no /+metrics")
    add_option(
        parser,
        "--metrics-token",
        "",
        "serve /+metrics only to requests with 'Authorization: Bearer TOKEN' (default: to anyone)",
    )
    add_option(
        parser,
        "--x-accel-redirect",
        "",
        "behind nginx: answer stored files with an X-Accel-Redirect to PREFIX/<path in the "
        "store> and let nginx send them (an internal location aliased to the store)",
    )
    add_option(
        parser,
        "--default-index",
        "",
        "USER/INDEX that pypiserver's URLs serve: /simple/ and uploads to / (for teams moving "
        "over from pypiserver)",
    )
    add_option(
        parser,
        "--trusted-publishing",
        False,
        "let CI jobs trade their OIDC ID token for a 15-minute upload token "
        "(/_/oidc/mint-token), for the publishers each index lists in 'trusted_publishers'",
    )
    add_option(
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
    add_option(
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

