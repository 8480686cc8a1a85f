"""Read-only ("download only") users: root marks them, they read everywhere and write nowhere,
whatever the ACLs say, and only root lifts the flag."""

import pytest

from pyshelf_server.testing import make_wheel


@pytest.fixture
def team(shelf):
    shelf.create_user("alice", "alice-pw")
    shelf.create_user("bob", "bob-pw")
    shelf.create_index("alice/open", user="alice", password="alice-pw", acl_upload=[
        ":AUTHENTICATED:"
    ])  # fmt: skip
    filename, content = make_wheel("pkg", "1.0")
    shelf.upload("alice/open", filename, content, name="pkg", version="1.0", user="alice",
                 password="alice-pw")  # fmt: skip
    return shelf


def upload_as_bob(shelf, version, status):
    filename, content = make_wheel("pkg", version)
    return shelf.upload("alice/open", filename, content, name="pkg", version=version,
                        user="bob", password="bob-pw", status=status)  # fmt: skip


def test_a_read_only_user_reads_but_writes_nowhere(team):
    upload_as_bob(team, "1.1", 200)
    changed = team.json("PATCH", "/bob", {"read_only": "true"}, user="root")
    assert changed.json["message"] == "user updated"
    assert team.json("GET", "/bob").json["result"]["read_only"] is True

    page = team.test.get("/alice/open/+simple/pkg/", headers=team.auth("bob", "bob-pw"))
    assert "pkg-1.1-py3-none-any.whl" in page.text
    refused = upload_as_bob(team, "1.2", 403)
    assert refused.status == (
        "403 'bob' is a read-only user (download only): no uploads to any index"
    )
    # Not in an index of their own either, nor by changing someone's.
    team.json("PUT", "/bob/mine", {}, user="bob", password="bob-pw", status=403)
    team.json("PATCH", "/alice/open", {"title": "x"}, user="bob", password="bob-pw", status=403)
    team.json("DELETE", "/alice/open/pkg/1.1", user="bob", password="bob-pw", status=403)
    # Their own password is theirs to change (sent with their whole record, as devpi's client
    # does); the flag is not.
    record = team.json("GET", "/bob").json["result"]
    team.json("PATCH", "/bob", {**record, "password": "bob-pw2"}, user="bob", password="bob-pw")
    lifted = team.json(
        "PATCH", "/bob", {"read_only": False}, user="bob", password="bob-pw2", status=403
    )
    assert lifted.json["message"] == "only root may make a user read-only or lift it"

    team.json("PATCH", "/bob", {"read_only": False}, user="root")
    assert "read_only" not in team.json("GET", "/bob").json["result"]
    filename, content = make_wheel("pkg", "1.3")
    team.upload("alice/open", filename, content, name="pkg", version="1.3", user="bob",
                password="bob-pw2")  # fmt: skip


def test_who_may_set_the_flag_and_to_what(team):
    team.json("PATCH", "/root", {"read_only": True}, user="root", status=400)
    bad = team.json("PATCH", "/bob", {"read_only": "maybe"}, user="root", status=400)
    assert "read_only" in bad.json["message"]
    created = team.json(
        "PUT", "/carol", {"password": "carol-pw", "read_only": True}, user="root", status=201
    )
    assert created.json["result"]["read_only"] is True
    team.json("PUT", "/carol/mine", {}, user="carol", password="carol-pw", status=403)
