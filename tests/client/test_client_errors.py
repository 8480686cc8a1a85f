"""Bad input and unreachable servers: one line on stderr, a documented exit code, no traceback.

These run the real ``pyshelf`` command but need no pyshelf or devpi server.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from pyshelf_server.testing import free_port


@pytest.fixture
def not_a_shelf():
    """An HTTP server that answers 404 to everything, like a wrong URL would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>not found</html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--no-such-option"], 2, "unrecognized arguments"),
        (["use", "--nope"], 2, "unrecognized arguments"),
        (["index", "--create", "--delete", "x"], 2, "not allowed with argument"),
        (["user", "-m", "alice", "email"], 2, "malformed argument 'email'"),
        (["user", "-m", "alice", "colour=red"], 2, "unknown user option 'colour'"),
        (["list"], 2, "no index in use"),
        (["upload", "--formats", "egg"], 2, "unknown format 'egg'"),
        (["push", "x==1", "a/b"], 2, "no index in use"),
        (["refresh", "six"], 2, "no index in use"),
        (["install", "six"], 2, "no index in use"),
        (["login", "root", "--password", "x"], 2, "no server in use"),
        (["use", "a/b"], 2, "no server in use"),
        (["use", "a/b/c"], 2, "neither a URL nor USER/INDEX"),
        (["use", "ftp://x.example/"], 2, "invalid URL"),
        (["use", "--always-set-cfg", "maybe"], 2, "invalid choice"),
    ],
)
def test_bad_command_lines(cli, args, code, message):
    result = cli.fails(*args, code=code)
    assert message in result.error_line


def test_connection_refused(cli):
    port = free_port()  # bound and closed again: nothing listens there
    err = cli.fails("use", f"http://127.0.0.1:{port}", code=3).error_line
    assert f"cannot connect to http://127.0.0.1:{port}/+api: connection refused" in err


def test_wrong_url(cli, not_a_shelf):
    err = cli.fails("use", not_a_shelf, code=3).error_line
    assert "is not a pyshelf or devpi server" in err


def test_unknown_host(cli):
    err = cli.fails("use", "http://no-such-host.invalid/", code=3).error_line
    assert "cannot connect" in err


def test_login_without_password_or_terminal(cli, tmp_path):
    # A stored server is enough to get to the password question.
    (cli.clientdir).mkdir()
    (cli.clientdir / "current.json").write_text(
        '{"root": "http://127.0.0.1:9/", "login": "http://127.0.0.1:9/+login"}'
    )
    err = cli.fails("login", "root", code=2).error_line
    assert "pass --password or set $PYSHELF_PASSWORD" in err


def test_new_user_without_password(cli):
    (cli.clientdir).mkdir()
    (cli.clientdir / "current.json").write_text('{"root": "http://127.0.0.1:9/"}')
    err = cli.fails("user", "-c", "bob", "email=bob@example.org", code=2).error_line
    assert "user -c bob needs password=PASSWORD" in err


def test_no_arguments_prints_help(cli):
    result = cli.run()
    assert result.returncode == 2
    assert "usage: pyshelf" in result.stderr


def test_version(cli):
    assert cli("--version").stdout.startswith("pyshelf-client ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["remov", "x"], "pyshelf: error: unknown command 'remov'; did you mean 'remove'? "
                         "(see 'pyshelf --help')"),
        (["lgin"], "pyshelf: error: unknown command 'lgin'; did you mean 'login'? "
                   "(see 'pyshelf --help')"),
    ],
)
def test_a_mistyped_command_gets_the_nearest_one(cli, args, message):
    assert cli.fails(*args, code=2).error_line == message


def test_remove_without_a_terminal_says_to_pass_yes(cli, not_a_shelf):
    """Nothing is asked of the server: the question cannot be answered first."""
    result = cli.fails("remove", f"{not_a_shelf}/root/dev/pkg/1.0", code=2)
    assert result.stderr.splitlines()[-1] == (
        f"pyshelf: error: remove {not_a_shelf}/root/dev/pkg/1.0? needs an answer and there is "
        "no terminal to ask on: pass -y (--yes) to confirm"
    )


def test_use_takes_the_simple_url_the_web_ui_shows(cli, live_server):
    live_server.request("PUT", "/root/usesimple", json={})
    cli("use", f"{live_server.url}/root/usesimple/+simple/")
    shown = cli("use", "--urls").stdout
    assert f"{live_server.url}/root/usesimple/+simple/" in shown
    assert "/+simple/+simple" not in shown
