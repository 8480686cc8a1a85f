"""Bounds on user and index fields (pyshelf_server.limits): each is refused with 400 naming the
field and the bound, and refused before the write transaction begins, so a huge input never
holds the write lock; column lengths answer alike on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager

import pytest

from pyshelf_server import limits
from pyshelf_server.mirror.links import guess_version
from pyshelf_server.testing import make_wheel


def names(count: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}{n}" for n in range(count)]


@pytest.fixture
def dev(shelf):
    shelf.create_index("root/dev")
    return shelf


@pytest.mark.parametrize(
    "key, value, bound",
    [
        ("bases", ["root/dev"] * (limits.MAX_BASES + 1), f"at most {limits.MAX_BASES} entries"),
        ("acl_upload", names(limits.MAX_ACL_ENTRIES + 1), f"at most {limits.MAX_ACL_ENTRIES}"),
        ("acl_toxresult_upload", ",".join(names(limits.MAX_ACL_ENTRIES + 1)),
         f"at most {limits.MAX_ACL_ENTRIES}"),
        ("mirror_whitelist", names(limits.MAX_WHITELIST_ENTRIES + 1, "p"),
         f"at most {limits.MAX_WHITELIST_ENTRIES}"),
        ("acl_upload", ["x" * (limits.MAX_LIST_ENTRY_LENGTH + 1)],
         f"longer than {limits.MAX_LIST_ENTRY_LENGTH} characters"),
        ("title", "t" * (limits.MAX_TITLE_LENGTH + 1), f"at most {limits.MAX_TITLE_LENGTH} char"),
        ("description", "d" * (limits.MAX_DESCRIPTION_LENGTH + 1),
         f"at most {limits.MAX_DESCRIPTION_LENGTH} char"),
        ("custom_data", {"blob": "c" * limits.MAX_CUSTOM_DATA_BYTES},
         f"at most {limits.MAX_CUSTOM_DATA_BYTES} bytes"),
    ],
)
def test_each_index_bound_is_a_400_naming_it(dev, key, value, bound):
    for method, path in (("PUT", "/root/new"), ("PATCH", "/root/dev")):
        response = dev.json(method, path, {key: value}, user="root", status=400)
        message = response.json["message"]
        assert key in message and bound in message, message
    dev.json("GET", "/root/new", status=404)


def test_values_at_the_bounds_are_kept(dev):
    config = {
        "bases": ["root/dev"] * limits.MAX_BASES,
        "acl_upload": names(limits.MAX_ACL_ENTRIES),
        "mirror_whitelist": names(limits.MAX_WHITELIST_ENTRIES, "p"),
        "title": "t" * limits.MAX_TITLE_LENGTH,
        "description": "d" * limits.MAX_DESCRIPTION_LENGTH,
    }
    result = dev.json("PUT", "/root/full", config, user="root").json["result"]
    assert result["bases"] == ["root/dev"]  # duplicates dropped
    assert len(result["acl_upload"]) == limits.MAX_ACL_ENTRIES
    assert len(result["mirror_whitelist"]) == limits.MAX_WHITELIST_ENTRIES


def test_additions_past_a_bound_and_too_many_operations_are_refused(dev):
    dev.json("PATCH", "/root/dev", {"acl_upload": names(limits.MAX_ACL_ENTRIES)}, user="root")
    response = dev.json("PATCH", "/root/dev", ["acl_upload+=one-more"], user="root", status=400)
    assert f"at most {limits.MAX_ACL_ENTRIES} entries" in response.json["message"]
    response = dev.json("PATCH", "/root/dev", ["title=x"] * (limits.MAX_INDEX_OPERATIONS + 1),
                        user="root", status=400)
    assert f"at most {limits.MAX_INDEX_OPERATIONS} operations" in response.json["message"]
    # Removing many entries at once is fine (and no longer compares every pair).
    dev.json("PATCH", "/root/dev", ["acl_upload-=" + ",".join(names(limits.MAX_ACL_ENTRIES))],
             user="root")
    assert dev.json("GET", "/root/dev").json["result"]["acl_upload"] == []


def test_options_without_a_bound_of_their_own_are_bounded_by_size(dev):
    url = "https://upstream.example/" + "u" * limits.MAX_OPTION_BYTES
    response = dev.json("PUT", "/root/mirror", {"type": "mirror", "mirror_url": url},
                        user="root", status=400)
    bound = f"'mirror_url' may be at most {limits.MAX_OPTION_BYTES} bytes"
    assert bound in response.json["message"]


@pytest.mark.parametrize(
    "key, value, bound",
    [
        ("email", "e" * (limits.MAX_EMAIL_LENGTH + 1), str(limits.MAX_EMAIL_LENGTH)),
        ("title", "t" * (limits.MAX_TITLE_LENGTH + 1), str(limits.MAX_TITLE_LENGTH)),
        ("description", "d" * (limits.MAX_DESCRIPTION_LENGTH + 1),
         str(limits.MAX_DESCRIPTION_LENGTH)),
        ("custom_data", ["c" * limits.MAX_CUSTOM_DATA_BYTES], str(limits.MAX_CUSTOM_DATA_BYTES)),
        ("password", "p" * (limits.MAX_PASSWORD_LENGTH + 1), str(limits.MAX_PASSWORD_LENGTH)),
    ],
)
def test_each_user_bound_is_a_400_naming_it(shelf, key, value, bound):
    body = {"password": "secret", key: value}
    message = shelf.json("PUT", "/alice", body, user="root", status=400).json["message"]
    assert key in message and bound in message, message
    shelf.json("GET", "/alice", status=404)
    shelf.create_user("bob", password="secret")
    message = shelf.json("PATCH", "/bob", {key: value}, user="bob", password="secret",
                         status=400).json["message"]
    assert key in message and bound in message, message


def test_a_body_over_the_bound_is_413(dev):
    body = {"title": "x", "pad": "p" * limits.MAX_CONFIG_BODY_BYTES}
    response = dev.json("PATCH", "/root/dev", body, user="root", status=413)
    assert str(limits.MAX_CONFIG_BODY_BYTES) in response.json["message"]


def test_requires_python_longer_than_its_column_is_refused(dev):
    filename, content = make_wheel("pkg", "1.0")
    response = dev.upload("root/dev", filename, content, name="pkg", version="1.0",
                          requires_python=">=3" + ",!=3.0" * 100, status=400)
    assert f"requires_python may be at most {limits.MAX_REQUIRES_PYTHON_LENGTH}" in response.status
    filename, content = make_wheel("pkg", "1.0", requires_python=">=3" + ",!=3.0" * 100)
    dev.upload("root/dev", filename, content, name="pkg", version="1.0", status=400)
    dev.json("GET", "/root/dev/pkg", status=404)


def test_tox_result_names_fit_their_column(dev):
    name, version = "a" * 180, "1.0+" + "b" * 190
    filename, content = make_wheel(name, version)
    assert len(filename) <= limits.MAX_FILENAME_LENGTH
    dev.upload("root/dev", filename, content, name=name, version=version)
    link = dev.json("GET", f"/root/dev/{name}/{version}").json["result"]["+links"][0]
    path = "/" + link["href"].split("/", 3)[3]
    for _ in range(2):
        stored = dev.json("POST", path, {"testenvs": {}}, user="root").json["result"]
        assert len(stored.split("#")[0].rsplit("/", 1)[1]) <= limits.MAX_FILENAME_LENGTH
    results = dev.json("GET", f"/root/dev/{name}/{version}").json["result"]["+links"]
    assert len({link["href"] for link in results}) == 3


def test_a_mirrored_version_longer_than_its_column_is_not_kept():
    long_version = "1." + "0" * limits.MAX_VERSION_LENGTH
    assert guess_version("pkg", f"pkg-{long_version}.tar.gz") is None
    assert guess_version("pkg", "pkg-1.0.tar.gz") == "1.0"


# -- through a server process: refused without the write lock -----------------------------


@contextmanager
def write_lock_held_elsewhere(server):
    """Another process's write transaction on the server's database, for as long as the
    block runs (what a long upload or a slow commit looks like to the server)."""
    connection = sqlite3.connect(server.serverdir / "pyshelf.sqlite3", isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_huge_changes_are_refused_without_waiting_for_the_write_lock(make_live_server):
    server = make_live_server()
    server.create_user("alice", "secret")
    server.create_index("alice/dev", auth=("alice", "secret"))
    serial = server.request("GET", "/+api").headers["X-Devpi-Serial"]
    huge_acl = {"acl_upload": names(100_000)}
    with write_lock_held_elsewhere(server):
        # The password is checked (argon2, first use) and the body refused while another
        # transaction holds the lock: neither waits for it.
        for method, path, body in (
            ("PATCH", "/alice/dev", huge_acl),
            ("PUT", "/alice/other", huge_acl),
            ("PATCH", "/alice", {"title": "t" * 1_000_000}),
            ("PATCH", "/alice", {"password": "p" * 100_000}),
        ):
            started = time.monotonic()
            response = server.request(method, path, auth=("alice", "secret"), json=body)
            took = time.monotonic() - started
            assert response.status_code == 400, response.text
            assert took < 2, (method, path, took)
        # Logging in checks a password and writes nothing: it needs no write lock either.
        started = time.monotonic()
        assert server.login("alice", "secret").startswith("[")
        assert time.monotonic() - started < 2
        # Reads go on meanwhile.
        assert server.request("GET", "/alice/dev", auth=None).status_code == 200
    assert server.request("GET", "/+api").headers["X-Devpi-Serial"] == serial
    assert server.request("GET", "/alice/dev").json()["result"]["acl_upload"] == ["alice"]

