"""The database of the tests' servers: SQLite, or a throwaway PostgreSQL cluster (``--db``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any


class PostgresCluster:
    """A throwaway PostgreSQL cluster, made with Debian's ``initdb`` and ``pg_ctl``.

    It listens on a Unix socket in its own directory only (no TCP port to collide with), with
    durability switched off: the tests kill pyshelf processes, never PostgreSQL. ``initdb``
    refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self._numbers = iter(range(1, 1_000_000))

    @staticmethod
    def binaries() -> Path | None:
        """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's versioned directory."""
        import glob
        import shutil

        found = shutil.which("initdb")
        if found:
            return Path(found).parent
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return Path(versions[-1]).parent if versions else None

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        bin_dir = self.binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's initdb was not found (install Debian's postgresql)")
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )
        options = (
            f"-k {self.directory} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=400"
        )
        self._run(
            str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w",
            "-o", options, "start",
        )
        self._bin = bin_dir
        return self

    def stop(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}"

    def create_database(self, template: str | None = None) -> str:
        """A new, empty (or ``template``-cloned) database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._numbers)}"
        clause = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(
            dbname="postgres", user="postgres", host=str(self.directory), autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)


# The database the tests' servers run on (``--db``) and the session's cluster, if started.
_DATABASE: dict[str, Any] = {"backend": "sqlite", "cluster": None}


def use_database(backend: str) -> None:
    """Run the tests' servers on ``backend`` (``sqlite`` or ``postgresql``)."""
    _DATABASE["backend"] = backend


def database_backend() -> str:
    backend: str = _DATABASE["backend"]
    return backend


def stop_postgres_cluster() -> None:
    """Stop the session's cluster, if one was started."""
    cluster = _DATABASE.get("cluster")
    if cluster is not None:
        cluster.stop()
        _DATABASE["cluster"] = None


def on_postgresql() -> bool:
    return _DATABASE["backend"] == "postgresql"


def postgres_cluster() -> PostgresCluster:
    """The session's cluster, started on first use (``--db=postgresql`` or not)."""
    import tempfile

    cluster = _DATABASE.get("cluster")
    if cluster is None:
        # Unix socket paths are limited to ~107 bytes: keep the directory short.
        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))).start()
        _DATABASE["cluster"] = cluster
    return cluster


def new_database_url() -> str | None:
    """An empty database for one server on ``--db=postgresql``; None on SQLite."""
    if not on_postgresql():
        return None
    return postgres_cluster().create_database()
