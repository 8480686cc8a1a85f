"""API tokens (accounts/tokens.py): devpi-tokens' routes and JSON, tokens accepted wherever a
password is, their restrictions enforced in every permission check."""

import base64
import time

import pytest
from pymacaroons import Macaroon

from pyshelf_server import hookimpl, plugin_api
from pyshelf_server.testing import basic_auth, make_wheel

YEAR = 365 * 24 * 3600


def devpi_auth(user, secret):
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
def tokens(shelf):
    shelf.create_user("alice", "secret")
    shelf.create_index("alice/dev", user="alice", password="secret")
    shelf.create_index("alice/other", user="alice", password="secret")
    return shelf


def create(shelf, body=None, *, user="alice", password="secret", status=200):
    return shelf.json(
        "POST", f"/{user}/+token-create", body or {}, user=user, password=password, status=status
    ).json


def new_token(shelf, body=None, **kw):
    return create(shelf, body, **kw)["result"]["token"]


def upload(shelf, token, *, name="pkg", index="alice/dev", user="__token__", status=200):
    filename, content = make_wheel(name, "1.0")
    answer = shelf.test.post(
        f"/{index}/",
        [(":action", "file_upload"), ("name", name), ("version", "1.0")],
        upload_files=[("content", filename, content)],
        headers=basic_auth(user, token),
        expect_errors=True,
    )
    # webtest checks no status when errors are expected.
    assert answer.status_int == status, answer.status
    return answer


def keys(shelf):
    return shelf.app.registry.pyshelf.token_keys


def test_created_token_uploads_with_every_credential_form(tokens):
    answer = create(tokens)
    assert answer["type"] == "token-info"
    token = answer["result"]["token"]
    assert token.startswith("devpi-")
    upload(tokens, token, name="one")
    upload(tokens, token, name="two", user="alice")
    # Without the prefix, as devpi token-derive prints it.
    upload(tokens, token.removeprefix("devpi-"), name="three")
    api = tokens.json("GET", "/+api", headers=devpi_auth("alice", token)).json
    assert api["result"]["authstatus"][:2] == ["ok", "alice"]


def test_token_list_shows_restrictions_and_never_the_token(tokens):
    token = new_token(tokens, {"allowed": ["upload"], "indexes": ["alice/dev"]})
    listed = tokens.json("GET", "/alice/+tokens", user="alice", password="secret").json
    assert listed["type"] == "tokens-info"
    ((token_id, info),) = listed["result"]["tokens"].items()
    assert Macaroon.deserialize(token[6:]).identifier_bytes.decode() == f"alice-{token_id}"
    assert "allowed=upload" in info["restrictions"]
    assert "indexes=alice/dev" in info["restrictions"]
    assert any(r.startswith("expires=") for r in info["restrictions"])
    assert token.removeprefix("devpi-") not in str(listed)


def test_revoked_token_is_refused_at_once(tokens):
    token = new_token(tokens)
    upload(tokens, token, name="before")
    (token_id,) = tokens.json("GET", "/alice/+tokens", user="alice", password="secret").json[
        "result"
    ]["tokens"]
    answer = tokens.json("DELETE", f"/alice/+tokens/{token_id}", user="alice", password="secret")
    assert answer.json["message"] == f"token {token_id} deleted"
    upload(tokens, token, name="after", status=401)
    tokens.json("DELETE", f"/alice/+tokens/{token_id}", user="alice", password="secret",
                status=404)  # fmt: skip


def test_read_only_token_never_uploads(tokens):
    token = new_token(tokens, {"allowed": ["pkg_read"]})
    answer = upload(tokens, token, status=403)
    assert "upload" in answer.status
    tokens.test.get("/alice/dev/+simple/", headers=basic_auth("__token__", token), status=200)


def test_index_and_project_restrictions(tokens):
    token = new_token(tokens, {"indexes": ["alice/dev"], "projects": ["Good_Pkg"]})
    upload(tokens, token, name="good-pkg")
    answer = upload(tokens, token, name="other", status=403)
    assert answer.status == "403 Token denied access to project 'other'"
    answer = upload(tokens, token, name="good-pkg", index="alice/other", status=403)
    assert answer.status == "403 Token denied access to index 'alice/other'"


def test_derived_token_narrows_offline(tokens):
    token = new_token(tokens)
    macaroon = Macaroon.deserialize(token.removeprefix("devpi-"))
    macaroon.add_first_party_caveat("indexes=alice/other")
    derived = macaroon.serialize()
    upload(tokens, derived, name="there", index="alice/other")
    upload(tokens, derived, name="here", index="alice/dev", status=403)
    # A caveat cannot be taken away again: the signature no longer matches.
    forged = Macaroon(identifier=macaroon.identifier, key=b"guess", version=macaroon.version)
    upload(tokens, forged.serialize(), name="forged", status=401)


def test_unknown_caveat_refuses_the_token(tokens):
    macaroon = Macaroon.deserialize(new_token(tokens).removeprefix("devpi-"))
    macaroon.add_first_party_caveat("weird=1")
    upload(tokens, macaroon.serialize(), status=401)


def test_token_cannot_change_users_or_create_tokens(tokens):
    token = new_token(tokens)
    answer = tokens.json("POST", "/alice/+token-create", {}, headers=basic_auth("alice", token),
                         status=403)  # fmt: skip
    assert "cannot change users" in answer.json["message"]
    tokens.json("PATCH", "/alice", {"password": "x"}, headers=basic_auth("alice", token),
                status=403)  # fmt: skip
    # Nor does /+login turn it into a login token.
    tokens.json("POST", "/+login", {"user": "alice", "password": token}, status=401)


def test_token_of_another_user_name_is_refused(tokens):
    tokens.create_user("bob", "bobpw")
    token = new_token(tokens)
    assert tokens.json("GET", "/+api", headers=devpi_auth("bob", token)).json["result"][
        "authstatus"
    ] == ["noauth", "", []]
    upload(tokens, token, user="bob", status=401)


def test_expiry_default_maximum_and_root(tokens):
    now = 1_900_000_000
    keys(tokens).clock = lambda: now
    answer = create(tokens, {"expires": now + 2 * YEAR}, status=403)
    assert "more than" in answer["message"]
    create(tokens, {"expires": "never"}, status=403)
    create(tokens, {"expires": now - 1}, status=400)
    create(tokens, {"expires": "soon"}, status=400)
    create(tokens, {"unknown": 1}, status=400)
    create(tokens, {"allowed": "upload"}, status=400)
    token = new_token(tokens)
    # Root may go beyond, for anyone.
    forever = new_token(tokens, {"expires": "never"}, user="root", password=None)
    assert forever
    root_for_alice = tokens.json("POST", "/alice/+token-create", {"expires": "never"},
                                 user="root").json["result"]["token"]  # fmt: skip
    keys(tokens).clock = lambda: now + YEAR + 1
    upload(tokens, token, name="late", status=401)
    upload(tokens, root_for_alice, name="late")


def test_not_before(tokens):
    now = 1_900_000_000
    keys(tokens).clock = lambda: now
    token = new_token(tokens, {"not_before": now + 60})
    upload(tokens, token, status=401)
    keys(tokens).clock = lambda: now + 60
    upload(tokens, token)


def test_users_act_on_their_own_tokens_only(tokens):
    tokens.create_user("bob", "bobpw")
    tokens.json("POST", "/alice/+token-create", {}, user="bob", password="bobpw", status=403)
    tokens.json("GET", "/alice/+tokens", user="bob", password="bobpw", status=403)
    tokens.json("GET", "/alice/+tokens", status=401)
    assert tokens.json("GET", "/alice/+tokens", user="root").json["type"] == "tokens-info"


def test_registered_caveat_is_checked_at_use(tokens):
    from pyshelf_server.accounts.models import User
    from pyshelf_server.accounts.tokens import TokenService, register_caveat

    valid = {"17"}
    register_caveat("pyshelf-test-entry", lambda request, value: None if value in valid
                    else f"entry {value} is gone")  # fmt: skip
    app = tokens.app.registry.pyshelf
    with app.database.writing() as uow:
        alice = uow.session.query(User).filter_by(name="alice").one()
        _id, token = TokenService(uow, app.token_keys).create(
            alice, expires=None, policy=False, allowed=["upload"],
            caveats={"pyshelf-test-entry": "17"},
        )  # fmt: skip
    upload(tokens, token, name="while-valid")
    valid.clear()
    answer = upload(tokens, token, name="after-removal", status=403)
    assert answer.status == "403 entry 17 is gone"


def test_deleting_the_user_ends_their_tokens(tokens):
    token = new_token(tokens)
    tokens.json("DELETE", "/alice", user="root", status=200)
    tokens.create_user("alice", "secret")
    tokens.create_index("alice/dev", user="alice", password="secret")
    upload(tokens, token, status=401)


def test_a_password_that_looks_like_a_token_is_still_a_password(tokens):
    token_lookalike = "AgEsomething-that-is-no-macaroon"
    tokens.create_user("carol", token_lookalike)
    tokens.create_index("carol/dev", user="carol", password=token_lookalike)
    upload(tokens, token_lookalike, user="carol", index="carol/dev")
    tokens.create_user("dave", "devpi-not-a-token")
    api = tokens.json("GET", "/+api", headers=basic_auth("dave", "devpi-not-a-token")).json
    assert api["result"]["authstatus"][:2] == ["ok", "dave"]


def test_only_id_and_seed_are_stored(tokens):
    from sqlalchemy import text

    token = new_token(tokens, {"description": "ci"})
    macaroon = Macaroon.deserialize(token.removeprefix("devpi-"))
    with tokens.app.registry.pyshelf.database.reading() as session:
        rows = session.execute(text("SELECT * FROM api_tokens")).all()
    stored = repr(rows)
    assert len(rows) == 1
    assert token.removeprefix("devpi-") not in stored
    assert macaroon.signature not in stored


def test_checking_a_token_hashes_no_password(tokens, monkeypatch):
    from pyshelf_server import security

    token = new_token(tokens)

    class NoHashing:
        def verify(self, *args):
            raise AssertionError("a password hash was checked")

    monkeypatch.setattr(security, "password_context", NoHashing(), raising=False)
    for name in ("fast-one", "fast-two"):
        upload(tokens, token, name=name)
    upload(tokens, token, name="fast-three", user="alice")


class MintingPlugin:
    """Mints a short upload-only token the way trusted publishing does: through plugin_api,
    with a registered caveat re-checked at use."""

    def __init__(self):
        self.entries = {"17"}

    @hookimpl
    def pyshelf_pyramid_configure(self, config, settings):
        plugin_api.register_token_caveat("pyshelf-test-minted", self.check)
        config.add_route("test.mint", "/+test-mint")
        config.add_view(self.mint, route_name="test.mint", request_method="POST", renderer="json")

    def check(self, request, value):
        return None if value in self.entries else f"entry {value} was removed"

    def mint(self, request):
        token_id, token = plugin_api.tokens(request).mint(
            "alice", expires=int(time.time()) + 900, allowed=["upload"], indexes=["alice/dev"],
            projects=["minted"], description="minted", caveats={"pyshelf-test-minted": "17"},
        )  # fmt: skip
        return {"id": token_id, "token": token}


def test_plugin_mints_through_plugin_api(make_app):
    from pyshelf_server.testing import Shelf

    plugin = MintingPlugin()
    shelf = Shelf(make_app(plugins=[plugin]))
    shelf.create_user("alice", "secret")
    shelf.create_index("alice/dev", user="alice", password="secret")
    shelf.create_index("alice/other", user="alice", password="secret")
    minted = shelf.test.post("/+test-mint").json
    upload(shelf, minted["token"], name="minted")
    assert upload(shelf, minted["token"], name="other", status=403).status.endswith("'other'")
    upload(shelf, minted["token"], name="minted", index="alice/other", status=403)
    listed = shelf.json("GET", "/alice/+tokens", user="alice", password="secret").json
    assert "pyshelf-test-minted=17" in listed["result"]["tokens"][minted["id"]]["restrictions"]
    plugin.entries.clear()
    assert upload(shelf, minted["token"], name="minted", status=403).status == (
        "403 entry 17 was removed"
    )
