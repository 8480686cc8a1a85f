"""Pushing a version to another index, on this server and to another server."""

import pytest

from pyshelf_server.testing import Shelf, make_sdist, make_wheel


@pytest.fixture
def dev(shelf):
    return upload_release(shelf)


def upload_release(shelf):
    shelf.create_user("alice")
    shelf.create_index("root/dev")
    shelf.create_index("root/prod", volatile=False)
    shelf.upload("root/dev", *make_wheel("pkg", "1.0", summary="s"), name="pkg", version="1.0")
    shelf.upload("root/dev", *make_sdist("pkg", "1.0"), name="pkg", version="1.0")
    return shelf


def test_push_copies_files_metadata_and_logs(dev):
    response = dev.json(
        "PUSH",
        "/root/dev",
        {"name": "pkg", "version": "1.0", "targetindex": "root/prod"},
        user="root",
    )
    assert response.json["type"] == "actionlog"
    actions = response.json["result"]
    assert actions[0] == [200, "register", "pkg", "1.0", "->", "root/prod"]
    assert [a[1] for a in actions[1:]] == ["store_releasefile", "store_releasefile"]
    version = dev.json("GET", "/root/prod/pkg/1.0").json["result"]
    assert version["summary"] == "s"
    log = version["+links"][0]["log"]
    assert [entry["what"] for entry in log] == ["upload", "push"]
    assert log[-1]["src"] == "root/dev" and log[-1]["dst"] == "root/prod"
    # Pushing again onto the non-volatile index is refused.
    dev.json(
        "PUSH",
        "/root/dev",
        {"name": "pkg", "version": "1.0", "targetindex": "root/prod"},
        user="root",
        status=409,
    )


def test_push_with_post_and_json(dev):
    dev.json(
        "POST",
        "/root/dev",
        {"name": "pkg", "version": "1.0", "targetindex": "root/prod"},
        user="root",
        status=200,
    )


def test_push_needs_upload_rights_on_the_target(dev):
    body = {"name": "pkg", "version": "1.0", "targetindex": "root/prod"}
    response = dev.json("PUSH", "/root/dev", body, user="alice", password="secret", status=401)
    assert "cannot upload" in response.json["message"]
    dev.json("PUSH", "/root/dev", body, status=401)


@pytest.mark.parametrize(
    "extra, status",
    [
        ({"version": "9.9"}, 404),
        ({"targetindex": "root/nope"}, 404),
        ({"no_docs": True, "only_docs": True}, 400),
    ],
)
def test_push_errors(dev, extra, status):
    body = {"name": "pkg", "version": "1.0", "targetindex": "root/prod", **extra}
    dev.json("PUSH", "/root/dev", body, user="root", status=status)


def test_push_to_another_server(make_app, make_live_server):
    # The other server listens on loopback, where a push goes only when root allows it.
    dev = Shelf(make_app(push_allow_hosts="127.0.0.1"))
    upload_release(dev)
    other = make_live_server()
    other.create_index("root/remote")

    def push(password, **kw):
        body = {
            "name": "pkg",
            "version": "1.0",
            "posturl": f"{other.url}/root/remote/",
            "username": "root",
            "password": password,
        }
        return dev.json("PUSH", "/root/dev", body, user="root", **kw)

    response = push(other.root_password)
    codes = [action[0] for action in response.json["result"]]
    assert codes == [200, 200]
    listing = other.request("GET", "/root/remote/pkg").json()["result"]
    assert len(listing["1.0"]["+links"]) == 2
    response = push("wrong", status=502)
    assert response.json["result"][0][0] == 401
