"""Test helpers shared by the server, the client, the web plugin, the other plugins and the
benchmarks, and the pytest plugin that provides them as fixtures.

Load the plugin with ``pytest_plugins = ["pyshelf_server.testing"]``. Two kinds of server:

* ``make_app`` / ``shelf``: the WSGI application in-process, driven through WebTest: fast,
  for functional tests of views and services (``app``, ``driver``);
* ``live_server`` / ``make_live_server``: the real ``pyshelf-server`` process on a free loopback
  port, for end-to-end tests with pip, uv, twine and the devpi client (``live``).

The helpers live in submodules by job (``processes``, ``credentials``, ``postgres``, ``s3``,
``live``, ``app``, ``driver``, ``distributions``); the names re-exported here (``__all__``) are
the public API of the test helpers: tests and benchmarks import them from this package
(``from pyshelf_server.testing import make_wheel, LiveServer``), and pytest finds the fixtures
and hooks here.
"""

from __future__ import annotations

import os

import pytest

from .app import make_app, make_settings
from .credentials import (
    HTPASSWD_FORMATS,
    ROOT_PASSWORD,
    basic_auth,
    cheap_password_hashing,
    run_htpasswd,
)
from .distributions import make_attestation, make_sdist, make_wheel
from .driver import Shelf, checked_status, shelf
from .live import LiveServer, default_test_plugins, live_server, make_live_server
from .postgres import (
    PostgresCluster,
    new_database_url,
    on_postgresql,
    postgres_cluster,
    stop_postgres_cluster,
    use_database,
)
from .processes import BIN, free_port, stop_process, wait_until_answering
from .s3 import S3Server, s3_server, s3_store

__all__ = [
    "BIN",
    "HTPASSWD_FORMATS",
    "ROOT_PASSWORD",
    "LiveServer",
    "PostgresCluster",
    "S3Server",
    "Shelf",
    "basic_auth",
    "cheap_password_hashing",
    "checked_status",
    "default_test_plugins",
    "free_port",
    "live_server",
    "make_app",
    "make_attestation",
    "make_live_server",
    "make_sdist",
    "make_settings",
    "make_wheel",
    "new_database_url",
    "on_postgresql",
    "postgres_cluster",
    "run_htpasswd",
    "s3_server",
    "s3_store",
    "shelf",
    "stop_process",
    "wait_until_answering",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("PYSHELF_TEST_DB", "sqlite"),
        help="the database the servers of the tests run on (PostgreSQL: a throwaway cluster)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite's own behaviour")
    use_database(config.getoption("--db"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgresql():
        return
    skip = pytest.mark.skip(reason="tests SQLite's own behaviour")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_postgres_cluster()
