"""pyshelf-init and pyshelf-server as commands: set-up, refusals, schema versions."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent


def run(*args, **kw):
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, **kw
    )


def test_init_generates_and_stores_a_root_password(tmp_path):
    serverdir = tmp_path / "server"
    result = run("pyshelf-init", "--serverdir", str(serverdir))
    assert result.returncode == 0, result.stderr
    stored = serverdir / ".root-password"
    password = stored.read_text().strip()
    assert len(password) >= 20 and password in result.stdout
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert not (serverdir / ".secret").exists()
    assert len(stored_secret(serverdir)) >= 40


def stored_secret(serverdir):
    engine = create_engine(f"sqlite:///{serverdir / 'pyshelf.sqlite3'}")
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT secret FROM server_state")).scalar_one()
    finally:
        engine.dispose()


def test_init_refuses_an_existing_server_directory(tmp_path):
    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    secret = stored_secret(serverdir)
    result = run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "y")
    assert result.returncode != 0
    assert "already initialised" in result.stderr and "Traceback" not in result.stderr
    assert stored_secret(serverdir) == secret


def test_server_on_a_new_directory_says_to_run_init(tmp_path):
    result = run("pyshelf-server", "--serverdir", str(tmp_path / "nothing"), "--port", "0")
    assert result.returncode != 0
    assert "pyshelf-init" in result.stderr and "Traceback" not in result.stderr


def test_server_refuses_an_outside_url_that_is_not_http(tmp_path):
    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    for bad in ("shelf.example", "ftp://shelf.example/"):
        result = run(
            "pyshelf-server", "--serverdir", str(serverdir), "--port", "0", "--outside-url", bad
        )
        assert result.returncode == 2
        assert "--outside-url" in result.stderr and "Traceback" not in result.stderr


def test_migrate_moves_a_nested_store_to_the_flat_layout(tmp_path):
    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    sha = "ab" * 32
    nested = serverdir / "files" / "ab" / "ab" / sha
    nested.parent.mkdir(parents=True, exist_ok=True)
    nested.write_bytes(b"stored before")
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--migrate")
    assert result.returncode == 0, result.stderr
    assert "moved 1 stored files" in result.stdout
    assert (serverdir / "files" / "ab" / sha).read_bytes() == b"stored before"
    assert not nested.parent.exists()


def test_server_refuses_a_newer_schema_and_migrates_an_older_one(tmp_path):
    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    engine = create_engine(f"sqlite:///{serverdir / 'pyshelf.sqlite3'}")
    with engine.begin() as conn:
        head = conn.execute(text("select version_num from alembic_version")).scalar_one()
        conn.execute(text("update alembic_version set version_num = 'ffffffff'"))
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", "0")
    assert result.returncode != 0 and "newer" in result.stderr

    # An older schema: pretend the database is at the first revision and not yet at head.
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = :v"), {"v": head})
    if head != "0001":
        with engine.begin() as conn:
            conn.execute(text("update alembic_version set version_num = '0001'"))
        result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", "0")
        assert result.returncode != 0 and "--migrate" in result.stderr
    engine.dispose()


def test_version_lists_plugins():
    result = run("pyshelf-server", "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("pyshelf-server ")


def test_a_server_directory_from_before_keeps_its_secret(tmp_path, make_app):
    """Directories made before the secret moved into the database had it in ``.secret``: the
    first start adopts it, so login tokens issued before stay valid."""
    from pyshelf_server.testing import make_settings

    settings = make_settings(tmp_path / "app-serverdir")
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE server_state SET secret = NULL"))
    finally:
        engine.dispose()
    settings.legacy_secret_file.write_text("an-old-secret-from-the-server-directory\n")
    app = make_app()
    assert app.registry.pyshelf.secret == b"an-old-secret-from-the-server-directory"


def test_new_sqlite_databases_vacuum_incrementally_and_migrate_switches_old_ones(tmp_path):
    import sqlite3

    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    path = serverdir / "pyshelf.sqlite3"

    def auto_vacuum():
        with sqlite3.connect(path) as db:
            return db.execute("PRAGMA auto_vacuum").fetchone()[0]

    assert auto_vacuum() == 2  # incremental
    # A database from before: no auto-vacuum.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA auto_vacuum=NONE")
    db.execute("VACUUM")
    db.close()
    assert auto_vacuum() == 0
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--migrate")
    assert result.returncode == 0, result.stderr
    assert "gives the space of deleted rows back" in result.stdout
    assert auto_vacuum() == 2
    again = run("pyshelf-server", "--serverdir", str(serverdir), "--migrate")
    assert "gives the space" not in again.stdout


def test_cleanup_options_need_cleanup(tmp_path):
    serverdir = tmp_path / "server"
    assert run("pyshelf-init", "--serverdir", str(serverdir), "--root-passwd", "x").returncode == 0
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--dry-run")
    assert result.returncode == 2 and "go with --cleanup" in result.stderr
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--cleanup", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "total: would delete 0 files, would free 0 bytes" in result.stdout
