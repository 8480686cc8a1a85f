"""Login tokens end with what they stood for: a password change or the user's deletion ends
every earlier token of that user; other users' tokens are untouched."""

import base64

import httpx


def devpi_auth(user, secret):
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}


def login(shelf, user, password):
    answer = shelf.json("POST", "/+login", {"user": user, "password": password}).json
    return answer["result"]["password"]


def authstatus(shelf, user, token):
    return shelf.json("GET", "/+api", headers=devpi_auth(user, token)).json["result"]["authstatus"]


def test_root_changing_a_password_ends_the_users_tokens(shelf):
    shelf.create_user("alice", "first")
    token = login(shelf, "alice", "first")
    assert authstatus(shelf, "alice", token)[0] == "ok"
    shelf.json("PATCH", "/alice", {"password": "second"}, user="root", status=200)
    assert authstatus(shelf, "alice", token) == ["noauth", "", []]
    # Nor does the token still open doors that need the user.
    shelf.json("PUT", "/alice/dev", {}, headers={**devpi_auth("alice", token)}, status=401)
    assert authstatus(shelf, "alice", login(shelf, "alice", "second"))[0] == "ok"


def test_a_user_changing_their_password_ends_their_earlier_tokens(shelf):
    shelf.create_user("alice", "first")
    old = login(shelf, "alice", "first")
    answer = shelf.json(
        "PATCH", "/alice", {"password": "second"}, headers=devpi_auth("alice", old), status=200
    ).json
    assert answer["type"] == "userpassword"
    assert authstatus(shelf, "alice", old) == ["noauth", "", []]
    # The token the change answers with is made for the new password, and works.
    assert authstatus(shelf, "alice", answer["result"]["password"])[0] == "ok"


def test_a_recreated_user_does_not_inherit_tokens_even_with_the_same_password(shelf):
    shelf.create_user("alice", "same")
    token = login(shelf, "alice", "same")
    shelf.json("DELETE", "/alice", user="root", status=200)
    assert authstatus(shelf, "alice", token) == ["noauth", "", []]
    shelf.create_user("alice", "same")
    assert authstatus(shelf, "alice", token) == ["noauth", "", []]
    assert authstatus(shelf, "alice", login(shelf, "alice", "same"))[0] == "ok"


def test_another_users_change_leaves_tokens_working(shelf):
    shelf.create_user("alice", "a-pass")
    shelf.create_user("bob", "b-pass")
    alice = login(shelf, "alice", "a-pass")
    root = login(shelf, "root", "root-test-password")
    shelf.json("PATCH", "/bob", {"password": "b-new"}, user="root", status=200)
    shelf.json("DELETE", "/bob", user="root", status=200)
    shelf.json("PATCH", "/alice", {"title": "Alice"}, user="root", status=200)
    assert authstatus(shelf, "alice", alice)[0] == "ok"
    assert authstatus(shelf, "root", root)[0] == "ok"


def test_a_token_made_for_one_user_is_refused_for_another(shelf):
    shelf.create_user("alice", "same")
    shelf.create_user("bob", "same")
    token = login(shelf, "alice", "same")
    assert authstatus(shelf, "bob", token) == ["noauth", "", []]


def test_live_server_ends_tokens_on_password_change_and_deletion(make_live_server):
    server = make_live_server()
    server.create_user("alice", "first")
    server.create_user("bob", "b-pass")
    alice = server.login("alice", "first")
    bob = server.login("bob", "b-pass")

    def status(user, token):
        response = httpx.get(
            server.url + "/+api",
            headers={"Accept": "application/json", **devpi_auth(user, token)},
            timeout=30,
        )
        return response.json()["result"]["authstatus"][0]

    assert status("alice", alice) == "ok"
    assert server.request("PATCH", "/alice", json={"password": "second"}).status_code == 200
    assert status("alice", alice) == "noauth"
    assert status("bob", bob) == "ok"

    again = server.login("alice", "second")
    assert server.request("DELETE", "/alice").status_code == 200
    server.create_user("alice", "second")
    assert status("alice", again) == "noauth"
    assert status("bob", bob) == "ok"
    # A restart changes nothing about which tokens hold.
    server.restart()
    assert status("bob", bob) == "ok"
    assert status("alice", again) == "noauth"
