"""Login tokens, credentials in headers, and bad credentials staying anonymous."""

import base64
import time

from pyshelf_server.testing import Shelf


def devpi_auth(user, secret):
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_login_token_works_in_both_headers(shelf):
    token = shelf.json("POST", "/+login", {"user": "root", "password": "root-test-password"}).json
    assert token["type"] == "proxyauth" and token["message"] == "login successful"
    secret = token["result"]["password"]
    api = shelf.json("GET", "/+api", headers=devpi_auth("root", secret)).json["result"]
    assert api["authstatus"] == ["ok", "root", []]
    basic = {"Authorization": "Basic " + base64.b64encode(f"root:{secret}".encode()).decode()}
    assert shelf.json("GET", "/+api", headers=basic).json["result"]["authstatus"][0] == "ok"


def test_bad_credentials_are_anonymous_not_errors(shelf):
    for headers in (
        devpi_auth("root", "wrong"),
        devpi_auth("nobody", "x"),
        {"X-Devpi-Auth": "%%%not-base64"},
        {"Authorization": "Basic !!!"},
        devpi_auth("root", '["root", [], true].123.forged'),
    ):
        api = shelf.json("GET", "/+api", headers=headers).json["result"]
        assert api["authstatus"] == ["noauth", "", []]


def test_failed_login_does_not_say_which_part_was_wrong(shelf):
    wrong_password = shelf.json(
        "POST", "/+login", {"user": "root", "password": "x"}, status=401
    ).json
    unknown_user = shelf.json(
        "POST", "/+login", {"user": "nobody", "password": "x"}, status=401
    ).json
    assert wrong_password["message"].replace("root", "X") == unknown_user["message"].replace(
        "nobody", "X"
    )
    assert shelf.json("POST", "/+login", {"user": "root"}, status=400).json["message"] == (
        "Bad request: no user/password specified"
    )


def test_a_token_cannot_be_used_to_log_in(shelf):
    token = shelf.json("POST", "/+login", {"user": "root", "password": "root-test-password"}).json[
        "result"
    ]["password"]
    shelf.json("POST", "/+login", {"user": "root", "password": token}, status=401)


def test_tokens_expire(make_app):
    shelf = Shelf(make_app(login_token_seconds=1))
    secret = shelf.json("POST", "/+login", {"user": "root", "password": "root-test-password"}).json[
        "result"
    ]["password"]
    assert (
        shelf.json("GET", "/+api", headers=devpi_auth("root", secret)).json["result"]["authstatus"][
            0
        ]
        == "ok"
    )
    time.sleep(2.1)
    assert (
        shelf.json("GET", "/+api", headers=devpi_auth("root", secret)).json["result"]["authstatus"][
            0
        ]
        == "noauth"
    )


def test_a_token_of_one_user_is_not_valid_for_another(shelf):
    shelf.create_user("alice")
    secret = shelf.json("POST", "/+login", {"user": "alice", "password": "secret"}).json["result"][
        "password"
    ]
    assert (
        shelf.json("GET", "/+api", headers=devpi_auth("root", secret)).json["result"]["authstatus"][
            0
        ]
        == "noauth"
    )


def test_api_answers_and_headers(shelf):
    shelf.create_index("root/dev")
    response = shelf.json("GET", "/root/dev/+api")
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Devpi-Api-Version"] == "2"
    assert len(response.headers["X-Devpi-Uuid"]) == 32
    result = response.json["result"]
    assert result["login"] == "http://localhost/+login"
    assert result["index"] == "http://localhost/root/dev"
    assert result["simpleindex"] == "http://localhost/root/dev/+simple/"
    assert result["pypisubmit"] == "http://localhost/root/dev/"
    assert "server-keyvalue-parsing" in result["features"]
    assert (
        shelf.json("GET", "/root/nope/+api", status=404).json["message"]
        == "The index root/nope could not be found. Indexes you can see: root/dev."
    )


def test_serial_grows_with_writes(shelf):
    before = int(shelf.json("GET", "/+api").headers["X-Devpi-Serial"])
    shelf.create_index("root/dev")
    after = int(shelf.json("GET", "/+api").headers["X-Devpi-Serial"])
    assert after == before + 1


def test_outside_url_header_changes_generated_urls(shelf):
    result = shelf.json(
        "GET", "/+api", headers={"X-Outside-Url": "https://shelf.example/prefix"}
    ).json["result"]
    assert result["login"] == "https://shelf.example/prefix/+login"


def test_api_lists_loaded_plugins(make_app):
    from tests.server.test_plugins import RecordingPlugin

    shelf = Shelf(make_app(plugins=[RecordingPlugin()]))
    plugins = shelf.json("GET", "/+api").json["result"]["plugins"]
    assert plugins == {"RecordingPlugin": "unknown"}
    versions = shelf.json("GET", "/+status").json["result"]["versioninfo"]
    assert "pyshelf-server" in versions and "RecordingPlugin" in versions


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def authstatus(shelf, headers):
    return shelf.json("GET", "/+api", headers=headers).json["result"]["authstatus"][0]


def test_a_changed_password_stops_working_at_once(shelf):
    shelf.create_user("alice", "secret")
    # Checked once: the server now remembers alice's password hash.
    assert authstatus(shelf, basic("alice", "secret")) == "ok"
    shelf.json("PATCH", "/alice", {"password": "changed"}, user="alice", password="secret")
    assert authstatus(shelf, basic("alice", "secret")) == "noauth"
    assert authstatus(shelf, basic("alice", "changed")) == "ok"


def test_the_token_of_a_deleted_user_stops_working_at_once(shelf):
    shelf.create_user("bob", "secret")
    token = shelf.json("POST", "/+login", {"user": "bob", "password": "secret"}).json
    headers = devpi_auth("bob", token["result"]["password"])
    assert authstatus(shelf, headers) == "ok"
    shelf.json("DELETE", "/bob", user="root", status=200)
    assert authstatus(shelf, headers) == "noauth"
