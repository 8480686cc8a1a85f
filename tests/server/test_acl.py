"""Who may do what: anonymous, the owner, another user and root, on every kind of action."""

import pytest

from pyshelf_server.testing import make_wheel

ACTORS = {
    "anonymous": None,
    "owner": ("alice", "secret"),
    "other": ("bob", "secret"),
    "root": ("root", None),
}


@pytest.fixture
def world(shelf):
    shelf.create_user("alice")
    shelf.create_user("bob")
    shelf.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("pkg", "1.0")
    shelf.upload(
        "alice/dev", filename, content, name="pkg", version="1.0", user="alice", password="secret"
    )
    return shelf


def call(shelf, actor, method, path, body=None, status=None):
    credentials = ACTORS[actor]
    user, password = credentials if credentials else (None, None)
    return shelf.json(method, path, body, user=user, password=password, status="*").status_int


@pytest.mark.parametrize("actor", ACTORS)
def test_everyone_reads(world, actor):
    assert call(world, actor, "GET", "/alice/dev") == 200
    assert call(world, actor, "GET", "/alice/dev/pkg") == 200
    assert call(world, actor, "GET", "/alice/dev/+simple/pkg/") == 200


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 200), ("other", 403), ("root", 403)]
)
def test_upload_follows_acl_upload(world, actor, expected):
    filename, content = make_wheel("pkg", "2.0")
    credentials = ACTORS[actor]
    headers = world.auth(*credentials) if credentials else {}
    response = world.test.post(
        "/alice/dev/",
        [(":action", "file_upload"), ("name", "pkg"), ("version", "2.0")],
        upload_files=[("content", filename, content)],
        headers=headers,
        expect_errors=True,
    )
    assert response.status_int == expected
    # The reason phrase (which twine and the devpi client print) says who may upload and how.
    how = "alice/dev accepts uploads from: alice; log in as one of them (pyshelf login USER, "\
        "or twine upload -u USER)"
    if expected == 401:
        assert response.status == f"401 anonymous uploads are refused: {how}"
        assert response.headers["WWW-Authenticate"] == 'Basic realm="pypi"'
    if expected == 403:
        assert response.status == f"403 {credentials[0]!r} may not upload: {how}"


def test_an_upload_with_a_wrong_password_says_so(world):
    filename, content = make_wheel("pkg", "2.0")
    response = world.test.post(
        "/alice/dev/",
        [(":action", "file_upload"), ("name", "pkg"), ("version", "2.0")],
        upload_files=[("content", filename, content)],
        headers=world.auth("alice", "not-her-password"),
        expect_errors=True,
    )
    assert response.status == (
        "401 the user name and password given are not valid: alice/dev accepts uploads from: "
        "alice; log in as one of them (pyshelf login USER, or twine upload -u USER)"
    )


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 200), ("other", 403), ("root", 200)]
)
def test_modify_index(world, actor, expected):
    assert call(world, actor, "PATCH", "/alice/dev", ["title=t"]) == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 200), ("other", 403), ("root", 200)]
)
def test_delete_version(world, actor, expected):
    assert call(world, actor, "DELETE", "/alice/dev/pkg/1.0") == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 201), ("other", 403), ("root", 201)]
)
def test_delete_index(world, actor, expected):
    assert call(world, actor, "DELETE", "/alice/dev") == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 200), ("other", 403), ("root", 200)]
)
def test_create_index_in_namespace(world, actor, expected):
    assert call(world, actor, "PUT", "/alice/new", {}) == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anonymous", 401), ("owner", 200), ("other", 403), ("root", 200)]
)
def test_delete_user(world, actor, expected):
    assert call(world, actor, "DELETE", "/alice") == expected


def test_acl_upload_special_principals(world):
    filename, content = make_wheel("pkg", "3.0")
    world.json(
        "PATCH", "/alice/dev", ["acl_upload=:AUTHENTICATED:"], user="alice", password="secret"
    )
    world.upload(
        "alice/dev", filename, content, name="pkg", version="3.0", user="bob", password="secret"
    )
    world.json("PATCH", "/alice/dev", ["acl_upload=:anonymous:"], user="alice", password="secret")
    filename, content = make_wheel("pkg", "4.0")
    response = world.test.post(
        "/alice/dev/",
        [(":action", "file_upload"), ("name", "pkg"), ("version", "4.0")],
        upload_files=[("content", filename, content)],
    )
    assert response.status_int == 200


def test_a_group_entry_admits_the_members_a_plugin_names(make_app):
    """``:NAME`` in an ACL admits the users that a plugin's ``pyshelf_identity_groups`` puts in
    group NAME (devpi's syntax, as devpi-ldap fills it)."""
    from pyshelf_server import hookimpl
    from pyshelf_server.testing import Shelf, make_wheel

    class Groups:
        @hookimpl
        def pyshelf_identity_groups(self, request, username):
            return ["developers"] if username == "carol" else []

    world = Shelf(make_app(plugins=[Groups()]))
    world.create_user("carol")
    world.create_user("dave")
    world.create_index("root/team", acl_upload=":developers")
    filename, content = make_wheel("grouped", "1.0")
    world.upload("root/team", filename, content, name="grouped", version="1.0",
                 user="carol", password="secret", status=200)
    refused = world.upload("root/team", filename, content, name="grouped", version="1.0",
                           user="dave", password="secret", status=403)
    assert refused.status_code == 403


def test_refusals_say_who_may_and_how_to_log_in(world):
    def refusal(method, path, body, actor, status):
        user, password = ACTORS[actor] or (None, None)
        return world.json(method, path, body, user=user, password=password,
                          status=status).json["message"]

    assert refusal("PATCH", "/alice/dev", ["title=x"], "other", 403) == (
        "only alice and root may change index alice/dev")
    assert refusal("PATCH", "/alice/dev", ["title=x"], "anonymous", 401) == (
        "only alice and root may change index alice/dev: log in first (pyshelf login USER)")
    assert refusal("DELETE", "/alice/dev", None, "other", 403) == (
        "only alice and root may delete index alice/dev")
    assert refusal("PUT", "/alice/prod", {}, "other", 403) == (
        "only alice and root may create index alice/prod")
    assert refusal("PATCH", "/alice", {"title": "x"}, "other", 403) == (
        "only 'alice' and root may change user 'alice'")
    assert refusal("DELETE", "/alice", None, "other", 403) == (
        "only 'alice' and root may delete user 'alice'")
    assert refusal("PUT", "/carol", {"password": "x"}, "other", 403) == (
        "only root may create users")
