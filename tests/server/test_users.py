"""Users: creation rights, changes, deletion, and what the JSON shows."""


def test_only_root_creates_users_by_default(shelf):
    shelf.json("PUT", "/alice", {"password": "x"}, status=401)
    shelf.create_user("alice")
    shelf.json("PUT", "/bob", {"password": "x"}, user="alice", password="secret", status=403)


def test_registration_can_be_opened(make_app):
    from pyshelf_server.testing import Shelf

    shelf = Shelf(make_app(allow_user_registration=True))
    response = shelf.json("PUT", "/alice", {"password": "x", "email": "a@example.org"}, status=201)
    assert response.json["type"] == "userconfig"
    assert response.json["result"]["email"] == "a@example.org"
    assert "password" not in response.json["result"]


def test_create_user_errors(shelf):
    shelf.create_user("alice")
    assert (
        shelf.json("PUT", "/alice", {"password": "x"}, user="root", status=409).json["message"]
        == "user already exists"
    )
    assert (
        "password"
        in shelf.json("PUT", "/bob", {"email": "x"}, user="root", status=400).json["message"]
    )
    assert (
        "aren't allowed"
        in shelf.json("PUT", "/bad!name", {"password": "x"}, user="root", status=400).json[
            "message"
        ]
    )
    shelf.json("PUT", "/bob", [1, 2], user="root", status=400)


def test_get_user_shows_indexes_and_no_secrets(shelf):
    shelf.create_user("alice", email="a@example.org")
    shelf.create_index("alice/dev", user="alice", password="secret")
    result = shelf.json("GET", "/alice").json["result"]
    assert result["username"] == "alice"
    assert result["indexes"]["dev"]["type"] == "stage"
    assert result["created"].endswith("Z")
    assert "password" not in str(result) and "argon2" not in str(result)
    assert shelf.json("GET", "/nobody", status=404).json["message"] == "no user 'nobody'"


def test_modify_ignores_unknown_keys_and_changes_password(shelf):
    shelf.create_user("alice")
    config = shelf.json("GET", "/alice").json["result"]
    body = {k: v for k, v in config.items() if k not in ("indexes", "username")}
    body.update(email="new@example.org")
    response = shelf.json("PATCH", "/alice", body, user="alice", password="secret")
    assert response.json == {"message": "user updated"}
    assert shelf.json("GET", "/alice").json["result"]["email"] == "new@example.org"

    response = shelf.json(
        "PATCH", "/alice", {"password": "changed"}, user="alice", password="secret"
    )
    assert response.json["type"] == "userpassword"
    assert response.json["result"]["expiration"] == 36000
    shelf.json("POST", "/+login", {"user": "alice", "password": "secret"}, status=401)
    shelf.json("POST", "/+login", {"user": "alice", "password": "changed"}, status=200)


def test_users_modify_only_themselves(shelf):
    shelf.create_user("alice")
    shelf.create_user("bob")
    shelf.json(
        "PATCH", "/alice", {"email": "x@example.org"}, user="bob", password="secret", status=403
    )
    shelf.json("PATCH", "/alice", {"email": "x@example.org"}, status=401)
    shelf.json("PATCH", "/alice", {"email": "root@example.org"}, user="root", status=200)


def test_delete_user_refused_with_non_volatile_index(shelf):
    shelf.create_user("alice")
    shelf.create_index("alice/prod", user="alice", password="secret", volatile=False)
    response = shelf.json("DELETE", "/alice", user="alice", password="secret", status=403)
    assert "non-volatile" in response.json["message"]
    shelf.json(
        "PATCH", "/alice/prod", ["volatile=True"], user="alice", password="secret", status=200
    )
    assert shelf.json("DELETE", "/alice", user="alice", password="secret").json == {
        "message": "user 'alice' deleted"
    }
    shelf.json("GET", "/alice", status=404)
    shelf.json("GET", "/alice/prod", status=404)


def test_root_cannot_be_deleted(shelf):
    shelf.json("DELETE", "/root", user="root", status=403)


def test_list_of_users_has_volatile_on_every_index(shelf):
    shelf.create_user("alice")
    shelf.create_index("alice/dev", user="alice", password="secret")
    shelf.create_index("root/prod", volatile=False)
    result = shelf.json("GET", "/").json
    assert result["type"] == "list:userconfig"
    assert result["result"]["alice"]["indexes"]["dev"]["volatile"] is True
    assert result["result"]["root"]["indexes"]["prod"]["volatile"] is False
