"""A newcomer's first hour: errors that say what to do, a log by default, truthful pages."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from pyshelf_server.testing import basic_auth, make_wheel

BIN = Path(sys.executable).parent


def run(*args, **kw):
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, **kw
    )


def init(serverdir: Path, *args: str) -> None:
    result = run("pyshelf-init", "--serverdir", str(serverdir), "--no-root-pypi", *args)
    assert result.returncode == 0, result.stderr


def request_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " pyshelf.requests: " in line]


def wheel_file(tmp_path: Path, name: str = "hello-pkg", version: str = "1.0") -> Path:
    filename, content = make_wheel(name, version)
    path = tmp_path / filename
    path.write_bytes(content)
    return path


# -- the start ----------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_saying_what_to_do(tmp_path):
    serverdir = tmp_path / "server"
    init(serverdir, "--root-passwd", "x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", str(port),
                     "--plugins=")
    assert result.returncode == 2
    assert result.stderr == (
        f"pyshelf: error: port {port} on 127.0.0.1 is already in use (another "
        "pyshelf-server?): stop what listens there, or choose another port with --port "
        "(PYSHELF_PORT)\n"
    )


def test_a_server_directory_of_another_user_is_one_line_saying_what_to_do(request):
    # A directory every user can reach (pytest's are root's own), the server directory in it.
    top = Path(tempfile.mkdtemp())
    request.addfinalizer(lambda: shutil.rmtree(top))
    top.chmod(0o755)
    serverdir = top / "server"
    init(serverdir, "--root-passwd", "x")
    if os.geteuid() == 0:
        # Made by root, started by another user.
        # (setpriv, not subprocess's user=: the interpreter lies under root's home.)
        result = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             str(BIN / "pyshelf-server"), "--serverdir", str(serverdir), "--plugins="],
            capture_output=True, text=True, timeout=60, cwd="/",
        )
        assert result.returncode == 2
        assert result.stderr == (
            f"pyshelf: error: the server directory ({serverdir}) belongs to user 'root' and "
            f"user 'nobody' may not use it: run pyshelf-server as 'root', or make this user "
            f"its owner (chown -R nobody {serverdir})\n"
        )
    else:
        (serverdir / "pyshelf.sqlite3").chmod(0o400)
        result = run("pyshelf-server", "--serverdir", str(serverdir), "--plugins=")
        assert result.returncode == 2
        assert "pyshelf.sqlite3 in it" in result.stderr and "chmod -R u+rwX" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_locked_database_is_one_line_saying_what_to_do(tmp_path):
    """(Waits the start's lock wait, some seconds.)"""
    serverdir = tmp_path / "server"
    init(serverdir, "--root-passwd", "x")
    holder = sqlite3.connect(serverdir / "pyshelf.sqlite3", isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", "0",
                     "--plugins=")
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 2
    assert result.stderr == (
        f"pyshelf: error: the database sqlite:///{serverdir}/pyshelf.sqlite3 is locked by "
        "another process (an sqlite3 shell, a backup, a pyshelf-server that is still "
        "stopping?): let it finish or stop it, then start again\n"
    )


def test_a_newer_database_is_one_line_saying_what_to_do_also_for_migrate(tmp_path):
    from pyshelf_server import __version__

    serverdir = tmp_path / "server"
    init(serverdir, "--root-passwd", "x")
    engine = create_engine(f"sqlite:///{serverdir / 'pyshelf.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '9999_future'"))
    engine.dispose()
    expected = (
        f"pyshelf: error: the database schema is newer than this pyshelf-server {__version__} "
        "(a newer version wrote it): upgrade pyshelf-server to the version that wrote it, or "
        "restore a backup made with this one\n"
    )
    for extra in ([], ["--migrate"]):
        result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", "0",
                     "--plugins=", *extra)
        assert result.returncode == 2
        assert result.stderr == expected


# -- the log ------------------------------------------------------------------------------


def test_every_request_is_logged_by_default_without_credentials(make_live_server, tmp_path):
    server = make_live_server(plugins=[])
    server.create_index("root/dev")
    assert server.upload("root/dev", wheel_file(tmp_path), name="hello-pkg",
                         version="1.0").status_code == 200
    assert httpx.get(server.url + "/root/dev/+simple/hello-pkg/").status_code == 200
    assert httpx.get(server.url + "/nobody/here?x=1").status_code == 404
    server.stop()
    log = server.log_path.read_text()
    lines = request_lines(log)
    assert any(" 127.0.0.1 root PUT /root/dev 200 " in line and line.endswith("s")
               for line in lines), lines
    assert any(" 127.0.0.1 - GET /root/dev/+simple/hello-pkg/ 200 " in line for line in lines)
    assert any(" 127.0.0.1 - GET /nobody/here?x=1 404 " in line for line in lines)
    upload = next(line for line in lines if " POST /root/dev/ " in line)
    assert " 127.0.0.1 root POST /root/dev/ 200 0 " in upload
    assert server.root_password not in log
    # The events: the upload, the index, the login, the shutdown.
    assert "INFO pyshelf.events: root created index root/dev\n" in log
    assert f"INFO pyshelf.events: root uploaded {wheel_file(tmp_path).name} to root/dev\n" in log
    assert "INFO pyshelf.events: pyshelf-server stopped\n" in log


def test_logins_user_changes_and_failures_are_events(make_live_server):
    server = make_live_server(plugins=[])
    server.create_user("alice", "first-password")
    assert server.request("PATCH", "/alice", json={"password": "second-password"},
                          auth=("alice", "first-password")).status_code == 200
    assert httpx.post(server.url + "/+login", json={"user": "alice", "password": "wrong"},
                      headers={"Accept": "application/json"}).status_code == 401
    server.login("alice", "second-password")
    assert server.request("DELETE", "/alice").status_code == 200
    server.stop()
    log = server.log_path.read_text()
    for event in (
        "root created user 'alice'",
        "alice changed user 'alice': password_hash",
        "login of user 'alice' from 127.0.0.1 failed",
        "user 'alice' logged in from 127.0.0.1",
        "root deleted user 'alice'",
    ):
        assert f"INFO pyshelf.events: {event}\n" in log, event
    assert "first-password" not in log and "second-password" not in log


def test_json_log_to_a_file_and_quiet(make_live_server, tmp_path):
    log_file = tmp_path / "requests.jsonl"
    server = make_live_server(plugins=[], args=["--log-format", "json", "--log-file",
                                                str(log_file)])
    assert server.request("GET", "/root").status_code == 200
    server.stop()
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    request = next(r for r in records if r.get("path") == "/root")
    assert request["logger"] == "pyshelf.requests"
    assert (request["client"], request["user"], request["method"], request["status"]) == (
        "127.0.0.1", "root", "GET", 200)
    assert request["bytes"] > 0 and request["duration"] >= 0
    assert request["time"].endswith("Z")
    assert any(r["message"] == "pyshelf-server stopped" for r in records)
    # The same lines went to stderr.
    assert '"path": "/root"' in server.log_path.read_text()

    quiet = make_live_server("quiet", plugins=[], args=["--quiet"])
    assert quiet.request("GET", "/root").status_code == 200
    quiet.stop()
    assert "pyshelf.requests" not in quiet.log_path.read_text()
    assert "pyshelf.events" not in quiet.log_path.read_text()


# -- URLs of other tools ------------------------------------------------------------------


def test_pypiserver_urls_answer_with_the_index_urls(make_live_server, tmp_path):
    server = make_live_server(plugins=[])
    server.create_index("root/dev")
    url = server.url
    answer = httpx.get(url + "/simple/hello-pkg/", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.json()["message"] == (
        f"pyshelf serves each index at its own URL: {url}/USER/INDEX/+simple/ "
        f"(pip install --index-url {url}/root/dev/+simple/ ...); indexes here: root/dev, "
        "root/pypi. "
        "(A server started with --default-index USER/INDEX serves that index at /simple/ as "
        "pypiserver does.)"
    )
    # twine uploads to the root URL of a pypiserver, and prints the reason phrase.
    with open(wheel_file(tmp_path), "rb") as content:
        upload = httpx.post(url + "/", data={":action": "file_upload", "name": "hello-pkg",
                                             "version": "1.0"},
                            files={"content": ("hello_pkg-1.0-py3-none-any.whl", content)},
                            headers=basic_auth("root", server.root_password))
    assert upload.status_code == 404
    assert upload.reason_phrase == (
        f"uploads go to an index's URL: {url}/USER/INDEX/ (twine upload --repository-url "
        f"{url}/root/dev/ ...); indexes here: root/dev. (A server started with --default-index "
        "USER/INDEX takes uploads at / as pypiserver does.)"
    )


def test_a_json_post_to_the_root_gets_the_hint_as_json(shelf):
    # Only an upload form is answered the way twine reads it (HTML, the reason phrase).
    answer = shelf.json("POST", "/", {"name": "x"}, status=404)
    assert answer.content_type == "application/json"
    assert answer.json["message"].startswith("uploads go to an index's URL: ")


def test_the_simple_url_used_to_upload_or_use_names_the_index_url(make_live_server, tmp_path):
    server = make_live_server(plugins=[])
    server.create_index("root/dev")
    url = server.url
    with open(wheel_file(tmp_path), "rb") as content:
        upload = httpx.post(url + "/root/dev/+simple/", data={":action": "file_upload",
                            "name": "hello-pkg", "version": "1.0"},
                            files={"content": ("hello_pkg-1.0-py3-none-any.whl", content)},
                            headers=basic_auth("root", server.root_password))
    assert upload.status_code == 404
    assert upload.reason_phrase == (
        f"{url}/root/dev/+simple/ is the index's page for installers; uploads go to "
        f"{url}/root/dev/ instead"
    )
    api = httpx.get(url + "/root/dev/+simple/+api", headers={"Accept": "application/json"})
    assert api.status_code == 404
    assert api.json()["message"] == (
        f"{url}/root/dev/+simple/ is the index's page for installers; use the index's URL "
        f"{url}/root/dev/ instead"
    )


# -- root's password ----------------------------------------------------------------------


def test_an_empty_root_password_is_answered_with_where_the_password_is(make_live_server,
                                                                       tmp_path):
    serverdir = tmp_path / "server"
    init(serverdir)
    stored = serverdir / ".root-password"
    generated = stored.read_text().strip()
    server = make_live_server(plugins=[], root_password=generated)
    answer = httpx.post(server.url + "/+login", json={"user": "root", "password": ""},
                        headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.json()["message"] == (
        "root's password is not empty here (as devpi's starts): pyshelf-init generated one, "
        "printed it and stored it in the server directory's .root-password file (on the "
        "server: cat SERVERDIR/.root-password)"
    )
    # Changed: the file holds the new password, and the README's login line keeps working.
    assert server.request("PATCH", "/root", json={"password": "chosen-password"}).status_code \
        == 200
    assert stored.read_text() == "chosen-password\n"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    server.root_password = stored.read_text().strip()
    server.login()
    # Changed by a hash only: the file goes rather than hold a stale password.
    from pyshelf_server.security import hash_password

    assert server.request("PATCH", "/root", json={"pwhash": hash_password("hashed")}
                          ).status_code == 200
    assert not stored.exists()


def test_the_status_shows_file_paths_only_to_root(make_live_server):
    server = make_live_server(plugins=[])
    server.create_user("alice", "alice-password")
    assert server.request("GET", "/+status").json()["result"]["serverdir"] == str(
        server.serverdir)
    for auth in (None, ("alice", "alice-password")):
        status = server.request("GET", "/+status", auth=auth).json()["result"]
        assert "serverdir" not in status
        assert str(server.serverdir) not in json.dumps(status)


def test_concurrent_requests_get_a_log_line_each(make_live_server):
    server = make_live_server(plugins=[])
    threads = [threading.Thread(target=httpx.get, args=(server.url + f"/+api?n={n}",))
               for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.stop()
    lines = request_lines(server.log_path.read_text())
    assert {line.split(" GET /+api?n=")[1].split(" ")[0] for line in lines
            if " GET /+api?n=" in line} == {str(n) for n in range(20)}



def test_a_log_file_that_cannot_be_written_is_one_line(tmp_path):
    serverdir = tmp_path / "server"
    init(serverdir, "--root-passwd", "x")
    target = tmp_path / "no-such-dir" / "pyshelf.log"
    result = run("pyshelf-server", "--serverdir", str(serverdir), "--port", "0", "--plugins=",
                 "--log-file", str(target))
    assert result.returncode == 2
    assert result.stderr == (
        f"pyshelf: error: --log-file: cannot write '{target}': No such file or directory\n"
    )
