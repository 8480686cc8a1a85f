"""Users of an htpasswd file written by Apache's real htpasswd (``--htpasswd``): every hash
format, reading the file again when it changes, refusing a removed user at once, and what
becomes of the users the file brings."""

import base64
import logging

import pytest

from pyshelf_server.testing import HTPASSWD_FORMATS, Shelf, make_wheel, run_htpasswd

# What each format's hash looks like, so that the test knows the real tool wrote that format.
HASH_SHAPES = {
    "bcrypt": lambda h: h.startswith("$2y$"),
    "sha1": lambda h: h.startswith("{SHA}"),
    "apr1": lambda h: h.startswith("$apr1$"),
    "crypt": lambda h: len(h) == 13 and not h.startswith("$"),
}


def status_of(shelf, user, password):
    api = shelf.json("GET", "/+api", user=user, password=password).json["result"]
    return api["authstatus"][0]


def devpi_auth(user, secret):
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}


def hash_in(path, user):
    for line in path.read_text().splitlines():
        name, _, password_hash = line.partition(":")
        if name == user:
            return password_hash
    return None


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "htpasswd"
    run_htpasswd(path, "-c", "-B", user="alice", password="alice-secret")
    return path


@pytest.mark.parametrize("kind", sorted(HTPASSWD_FORMATS))
def test_each_format_of_apaches_htpasswd_logs_in(make_app, tmp_path, kind):
    path = tmp_path / "htpasswd"
    run_htpasswd(path, "-c", HTPASSWD_FORMATS[kind], user="carol", password="pw-carol")
    assert HASH_SHAPES[kind](hash_in(path, "carol"))
    shelf = Shelf(make_app(htpasswd=str(path)))
    assert status_of(shelf, "carol", "pw-carol") == "ok"
    assert status_of(shelf, "carol", "pw-caro") == "noauth"
    assert status_of(shelf, "carol", "") == "noauth"
    token = shelf.json("POST", "/+login", {"user": "carol", "password": "pw-carol"}).json
    secret = token["result"]["password"]
    api = shelf.json("GET", "/+api", headers=devpi_auth("carol", secret)).json["result"]
    assert api["authstatus"] == ["ok", "carol", []]


def test_a_bcrypt_password_longer_than_bcrypt_takes_is_refused_not_an_error(make_app, users_file):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    assert status_of(shelf, "alice", "x" * 200) == "noauth"


def test_changes_to_the_file_count_at_once(make_app, users_file):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    assert status_of(shelf, "alice", "alice-secret") == "ok"
    token = shelf.json("POST", "/+login", {"user": "alice", "password": "alice-secret"}).json[
        "result"
    ]["password"]

    run_htpasswd(users_file, "-B", user="bob", password="bob-secret")
    assert status_of(shelf, "bob", "bob-secret") == "ok"

    # A new password: the old one (checked and remembered a moment ago) and the login token
    # made with it are refused.
    run_htpasswd(users_file, "-m", user="alice", password="alice-new")
    assert status_of(shelf, "alice", "alice-secret") == "noauth"
    assert status_of(shelf, "alice", "alice-new") == "ok"
    api = shelf.json("GET", "/+api", headers=devpi_auth("alice", token)).json["result"]
    assert api["authstatus"][0] == "noauth"

    # Removed: refused at once, with the password just checked and with a fresh token.
    token = shelf.json("POST", "/+login", {"user": "bob", "password": "bob-secret"}).json[
        "result"
    ]["password"]
    run_htpasswd(users_file, "-D", user="bob")
    assert status_of(shelf, "bob", "bob-secret") == "noauth"
    api = shelf.json("GET", "/+api", headers=devpi_auth("bob", token)).json["result"]
    assert api["authstatus"][0] == "noauth"
    assert status_of(shelf, "alice", "alice-new") == "ok"


def test_a_user_of_the_file_becomes_a_pyshelf_user_and_keeps_their_indexes(
    make_app, users_file
):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    shelf.json("GET", "/alice", status=404)
    shelf.json("POST", "/+login", {"user": "alice", "password": "alice-secret"})
    assert shelf.json("GET", "/alice").json["result"]["username"] == "alice"
    shelf.create_index("alice/dev", user="alice", password="alice-secret")
    filename, content = make_wheel("hello", "1.0")
    shelf.upload(
        "alice/dev", filename, content, name="hello", version="1.0", user="alice",
        password="alice-secret",
    )  # fmt: skip
    # A file user's password is changed in the file, not through pyshelf.
    refused = shelf.json(
        "PATCH", "/alice", {"password": "other"}, user="alice", password="alice-secret",
        status=409,
    )  # fmt: skip
    assert "htpasswd file" in refused.json["message"]
    assert status_of(shelf, "alice", "other") == "noauth"

    run_htpasswd(users_file, "-D", user="alice")
    assert status_of(shelf, "alice", "alice-secret") == "noauth"
    shelf.upload(
        "alice/dev", "hello-1.1-py3-none-any.whl", make_wheel("hello", "1.1")[1], name="hello",
        version="1.1", user="alice", password="alice-secret", status=401,
    )  # fmt: skip
    # Their user, index and files stay, for root to delete or for their return.
    assert shelf.json("GET", "/alice").json["result"]["indexes"]["dev"]
    assert filename in shelf.test.get("/alice/dev/+simple/hello/").text
    shelf.json("POST", "/+login", {"user": "alice", "password": "alice-secret"}, status=401)
    run_htpasswd(users_file, "-B", user="alice", password="back-again")
    assert status_of(shelf, "alice", "back-again") == "ok"


def test_the_file_decides_only_for_users_it_brought(make_app, users_file, caplog):
    run_htpasswd(users_file, "-B", user="root", password="file-root")
    run_htpasswd(users_file, "-B", user="dave", password="file-dave")
    run_htpasswd(users_file, "-p", user="erin", password="plain-erin")
    with caplog.at_level(logging.WARNING, logger="pyshelf_server.accounts.htpasswd"):
        shelf = Shelf(make_app(htpasswd=str(users_file)))
    # root's password is pyshelf's; a plain-text line is never a password.
    assert status_of(shelf, "root", "file-root") == "noauth"
    assert status_of(shelf, "root", None) == "ok"
    assert status_of(shelf, "erin", "plain-erin") == "noauth"
    assert "line for root is ignored" in caplog.text
    assert "'erin' is ignored" in caplog.text
    assert "plain-erin" not in caplog.text and "file-root" not in caplog.text
    # A user created through pyshelf keeps the password pyshelf has, whatever the file says.
    shelf.create_user("dave", "db-dave")
    assert status_of(shelf, "dave", "db-dave") == "ok"
    assert status_of(shelf, "dave", "file-dave") == "noauth"


def test_a_broken_or_missing_file_lets_no_user_of_it_in(make_app, users_file, caplog):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    assert status_of(shelf, "alice", "alice-secret") == "ok"
    good = users_file.read_bytes()
    users_file.write_bytes(good + b"a line without a colon\n")
    with caplog.at_level(logging.ERROR, logger="pyshelf_server.accounts.htpasswd"):
        assert status_of(shelf, "alice", "alice-secret") == "noauth"
    assert "malformed" in caplog.text and "line 2" in caplog.text
    users_file.write_bytes(good)
    assert status_of(shelf, "alice", "alice-secret") == "ok"
    users_file.unlink()
    assert status_of(shelf, "alice", "alice-secret") == "noauth"
    assert status_of(shelf, "root", None) == "ok"
    users_file.write_bytes(good)
    assert status_of(shelf, "alice", "alice-secret") == "ok"


def test_without_the_option_a_user_from_the_file_cannot_log_in(make_app, users_file):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    shelf.json("POST", "/+login", {"user": "alice", "password": "alice-secret"})
    app = make_app()
    shelf = Shelf(app)
    assert shelf.json("GET", "/alice").json["result"]["username"] == "alice"
    assert status_of(shelf, "alice", "alice-secret") == "noauth"
    assert status_of(shelf, "alice", "!htpasswd") == "noauth"


def test_root_makes_a_user_of_the_file_ahead_of_their_first_login(make_app, users_file):
    shelf = Shelf(make_app(htpasswd=str(users_file)))
    made = shelf.json("PUT", "/alice", {"read_only": True}, user="root", status=201)
    assert made.json["result"]["read_only"] is True
    assert status_of(shelf, "alice", "alice-secret") == "ok"
    shelf.json("PUT", "/alice/dev", {}, user="alice", password="alice-secret", status=403)
    # Someone not in the file still needs a password.
    refused = shelf.json("PUT", "/zed", {}, user="root", status=400)
    assert refused.json["message"] == "password needs to be set"
