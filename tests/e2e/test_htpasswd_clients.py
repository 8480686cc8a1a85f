"""A team moving from pypiserver with its htpasswd file: twine uploads and pip installs with
the file's passwords against a real server, a download-only user, a removed user, and no
password in the server's log even with --debug; and ``pyshelf-import-htpasswd``."""

from __future__ import annotations

import base64
import re
import subprocess

import httpx
import pytest

from pyshelf_server.testing import HTPASSWD_FORMATS, run_htpasswd
from tests.server.test_cluster import start_pair

from .conftest import BIN, build, pip_install_into, twine_upload, write_project

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2"}


def authstatus(server, user, password):
    response = httpx.get(
        server.url + "/+api",
        auth=(user, password),
        headers={"Accept": "application/json"},
        timeout=30,
    )
    return response.json()["result"]["authstatus"][0]


def refused_upload(server, user, version, tmp_path, env):
    """What twine says when ``user``'s upload of team-pkg ``version`` fails (as it must)."""
    dist = build(write_project(tmp_path / user, "team-pkg", version), env)
    done = twine_upload(f"{server.url}/", user, PASSWORDS[user], dist, env=env, check=False)
    assert done.returncode != 0
    return done.stdout + done.stderr


def test_pypiserver_team_with_its_htpasswd_file(make_live_server, tmp_path, env):
    users = tmp_path / "htpasswd"
    run_htpasswd(users, "-c", "-B", user="alice", password=PASSWORDS["alice"])
    run_htpasswd(users, "-m", user="bob", password=PASSWORDS["bob"])
    server = make_live_server(
        args=["--default-index", "root/team", "--debug"], env={"PYSHELF_HTPASSWD": str(users)}
    )
    # As with pypiserver, whoever logs in uploads, except bob: root makes him a user of the file
    # ahead of his first login (no password: it stays in the file), download only.
    server.create_index("root/team", acl_upload=[":AUTHENTICATED:"])
    made = server.request("PUT", "/bob", json={"read_only": True})
    assert made.status_code == 201, made.text
    dist = build(write_project(tmp_path, "team-pkg", "1.0"), env)

    twine_upload(f"{server.url}/", "alice", PASSWORDS["alice"], dist, env=env)
    target = tmp_path / "target"
    host = server.url.removeprefix("http://")
    pip_install_into(target, f"http://bob:{PASSWORDS['bob']}@{host}/simple/", "team-pkg", env)
    assert (target / "team_pkg" / "__init__.py").exists()

    said = refused_upload(server, "bob", "1.1", tmp_path, env)
    assert "403" in said and "'bob' is a read-only user" in said

    # alice leaves the team: her line goes, and her password stops working at once.
    run_htpasswd(users, "-D", user="alice")
    assert "401" in refused_upload(server, "alice", "1.2", tmp_path, env)
    files = server.request("GET", "/root/team/team-pkg").json()["result"]
    assert sorted(files) == ["1.0"]

    server.stop()
    log = server.log_path.read_text()
    # The request log has every request (pypiserver's URLs as the index's own).
    assert re.search(r" alice POST /root/team/ 200 ", log)
    assert re.search(r" bob GET /root/team/\+simple/team-pkg/ 200 ", log)
    for user, password in PASSWORDS.items():
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert password not in log and encoded not in log


def test_two_server_processes_see_the_same_change_of_the_file(tmp_path):
    users = tmp_path / "htpasswd"
    run_htpasswd(users, "-c", "-B", user="alice", password=PASSWORDS["alice"])
    first, second, _store = start_pair(tmp_path, args=["--htpasswd", str(users)])
    try:
        for server in (first, second):
            assert authstatus(server, "alice", PASSWORDS["alice"]) == "ok"
        run_htpasswd(users, "-D", user="alice")
        for server in (first, second):
            assert authstatus(server, "alice", PASSWORDS["alice"]) == "noauth"
        run_htpasswd(users, "-s", user="alice", password="new-one")
        for server in (first, second):
            assert authstatus(server, "alice", "new-one") == "ok"
    finally:
        first.stop()
        second.stop()


def test_import_htpasswd_keeps_every_users_password(make_live_server, tmp_path):
    users = tmp_path / "htpasswd"
    run_htpasswd(users, "-c", "-B", user="dave", password="pw-dave")
    passwords = {"dave": "pw-dave"}
    for kind, flag in sorted(HTPASSWD_FORMATS.items()):
        passwords[f"user-{kind}"] = f"pw-{kind}"
        run_htpasswd(users, flag, user=f"user-{kind}", password=f"pw-{kind}")
    # erin logged in through the file before; frank is a pyshelf user of his own.
    run_htpasswd(users, "-B", user="erin", password="pw-erin")
    run_htpasswd(users, "-B", user="frank", password="file-frank")
    server = make_live_server(args=["--htpasswd", str(users)])
    assert authstatus(server, "erin", "pw-erin") == "ok"
    server.create_user("frank", "own-frank")
    server.stop()

    done = subprocess.run(
        [str(BIN / "pyshelf-import-htpasswd"), "--serverdir", str(server.serverdir), str(users)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "imported 5 new users, moved 1 users of the file in" in done.stdout
    assert "kept the password pyshelf has for: frank" in done.stdout
    assert "user-apr1 (apr1 MD5)" in done.stdout and "user-sha1 (SHA1)" in done.stdout
    assert "user-crypt (crypt)" in done.stdout and "dave" not in done.stdout.split("weak")[-1]

    # Without the file now: every password is pyshelf's.
    server.args = []
    server.start()
    for user, password in {**passwords, "erin": "pw-erin", "frank": "own-frank"}.items():
        assert authstatus(server, user, password) == "ok", user
        # ("x" in front: crypt reads only the first 8 characters, as Apache does)
        assert authstatus(server, user, "x" + password) == "noauth", user
    assert authstatus(server, "frank", "file-frank") == "noauth"

    broken = tmp_path / "broken"
    broken.write_text("no colon here\n")
    done = subprocess.run(
        [str(BIN / "pyshelf-import-htpasswd"), "--serverdir", str(server.serverdir), str(broken)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "nothing imported" in done.stderr and "line 1" in done.stderr


def test_the_server_does_not_start_with_a_file_it_cannot_read(make_live_server, tmp_path):
    with pytest.raises(RuntimeError):
        make_live_server(args=["--htpasswd", str(tmp_path / "missing")])
    log = (tmp_path / "server.log").read_text()
    assert "cannot read the htpasswd file" in log and "missing" in log


def test_an_export_keeps_a_file_users_password_in_the_file(make_live_server, tmp_path):
    users = tmp_path / "htpasswd"
    run_htpasswd(users, "-c", "-B", user="alice", password=PASSWORDS["alice"])
    source = make_live_server("source", args=["--htpasswd", str(users)])
    assert authstatus(source, "alice", PASSWORDS["alice"]) == "ok"
    assert source.request("PATCH", "/alice", json={"read_only": True}).status_code == 200
    dump = tmp_path / "dump"
    for command in (
        ["pyshelf-export", "--serverdir", str(source.serverdir), str(dump)],
        ["pyshelf-import", "--serverdir", str(tmp_path / "target"), str(dump)],
    ):
        done = subprocess.run(
            [str(BIN / command[0]), *command[1:]], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert "no usable password hash" not in done.stdout
    target = make_live_server("target", args=["--htpasswd", str(users)])
    assert authstatus(target, "alice", PASSWORDS["alice"]) == "ok"
    assert target.request("GET", "/alice").json()["result"]["read_only"] is True
    run_htpasswd(users, "-D", user="alice")
    assert authstatus(target, "alice", PASSWORDS["alice"]) == "noauth"


def test_the_devpi_client_with_a_user_of_the_file(make_live_server, tmp_path, env):
    from .test_devpi_client import Devpi

    users = tmp_path / "htpasswd"
    run_htpasswd(users, "-c", "-m", user="alice", password=PASSWORDS["alice"])
    server = make_live_server(args=["--htpasswd", str(users), "--debug"])
    devpi = Devpi(tmp_path / "client", env, tmp_path)
    devpi("use", server.url)
    devpi("login", "alice", "--password", PASSWORDS["alice"])
    devpi("index", "-c", "dev")
    # devpi sends the whole record back with a change: alice changes her email, not her flag.
    devpi("login", "root", "--password", server.root_password)
    devpi("user", "-m", "alice", "read_only=true")
    devpi("login", "alice", "--password", PASSWORDS["alice"])
    devpi("user", "-m", "alice", "email=alice@example.org")
    record = server.request("GET", "/alice").json()["result"]
    assert record["read_only"] is True and record["email"] == "alice@example.org"
    refused = devpi("index", "-c", "other", check=False)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    refused = devpi("user", "-m", "alice", "password=new-one", check=False)
    assert refused.returncode != 0 and "htpasswd file" in refused.stdout + refused.stderr
    server.stop()
    log = server.log_path.read_text()
    assert re.search(r" POST /\+login 200 ", log)
    for secret in (PASSWORDS["alice"], server.root_password, "new-one"):
        assert secret not in log
