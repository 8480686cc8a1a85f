"""The API tokens page: a logged-in user sees their tokens and revokes them."""

from __future__ import annotations

import pytest

from pyshelf_server.testing import basic_auth


@pytest.fixture
def alice(web):
    web.create_user("alice", "secret")
    web.create_user("bob", "bobpw")
    web.create_index("alice/dev", user="alice", password="secret")
    body = {"description": "for CI", "allowed": ["upload"]}
    answer = web.json("POST", "/alice/+token-create", body, user="alice", password="secret")
    return answer.json["result"]


def test_user_sees_and_revokes_their_tokens(web, alice):
    auth = basic_auth("alice", "secret")
    page = web.page("/alice", headers=auth)
    assert "/alice/+tokens" in page.text
    page = web.page("/alice/+tokens", headers=auth)
    assert alice["id"] in page.text and "for CI" in page.text and "allowed=upload" in page.text
    assert alice["token"][6:] not in page.text

    revoke = f"http://localhost/alice/+tokens/{alice['id']}/+revoke"
    # A form posted from elsewhere is refused, whatever credentials the browser sends along.
    web.test.post(revoke, headers={**auth, "Origin": "http://evil.example"}, status=403)
    answer = web.test.post(revoke, headers={**auth, "Origin": "http://localhost"}, status=303)
    assert answer.location.endswith(f"/alice/+tokens?revoked={alice['id']}")
    assert "No tokens." in web.page("/alice/+tokens", headers=auth).text
    assert (
        web.json("GET", "/+api", headers=basic_auth("__token__", alice["token"])).json["result"][
            "authstatus"
        ][0]
        == "noauth"
    )


def test_others_and_tokens_see_no_tokens(web, alice):
    assert "/alice/+tokens" not in web.page("/alice", headers=basic_auth("bob", "bobpw")).text
    web.page("/alice/+tokens", headers=basic_auth("bob", "bobpw"), status=403)
    web.page("/alice/+tokens", status=401)
    web.page("/alice/+tokens", headers=basic_auth("__token__", alice["token"]), status=403)
    web.test.post(f"http://localhost/alice/+tokens/{alice['id']}/+revoke",
                  headers={**basic_auth("bob", "bobpw"), "Origin": "http://localhost"},
                  status=403)  # fmt: skip
    # Root may look after anyone's.
    assert alice["id"] in web.page("/alice/+tokens", headers=web.auth("root")).text
