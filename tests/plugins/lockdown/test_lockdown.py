"""The lockdown plugin against a real server process that loads web and lockdown: anonymous
requests refused on every route class, the login routes open, devpi-lockdown's
``/+authcheck`` answers, the HTML login with its cookie and CSRF check, and ``acl_read``."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from pyshelf_server.testing import LiveServer, basic_auth, make_wheel

BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "User-Agent": "Mozilla/5.0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("lockdown") / "server", plugins=["web", "lockdown"])
    live.start()
    live.create_user("alice", "alice-pw")
    live.create_user("bob", "bob-pw")
    live.create_index("root/dev")
    live.create_index("alice/private", auth=("alice", "alice-pw"), acl_read="alice")
    live.create_index("root/public", acl_read=":ANONYMOUS:")
    wheel = tmp_path_factory.mktemp("dist") / "locked_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(make_wheel("locked-pkg", "1.0")[1])
    for fullname, auth in (("root/dev", ("root", None)), ("root/public", ("root", None)),
                           ("alice/private", ("alice", "alice-pw"))):  # fmt: skip
        response = live.upload(fullname, wheel, name="locked-pkg", version="1.0", auth=auth)
        assert response.status_code == 200, response.text
    yield live
    live.stop()


def file_path(server, fullname):
    page = server.request(
        "GET", f"/{fullname}/+simple/locked-pkg/", headers={"Accept": "text/html"}
    )
    return re.search(r'href="([^"#]+)', page.text).group(1)


ROUTE_CLASSES = [
    "/",
    "/root",
    "/root/dev",
    "/root/dev/locked-pkg",
    "/root/dev/locked-pkg/1.0",
    "/root/dev/+simple/",
    "/root/dev/+simple/locked-pkg/",
    "/+status",
    "/+search?query=locked",
    "/no/such/index/+simple/x/",
]


@pytest.mark.parametrize("path", ROUTE_CLASSES)
def test_anonymous_requests_are_refused_with_a_basic_challenge(server, path):
    response = httpx.get(server.url + path, headers={"Accept": "application/json"})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyshelf"'
    assert "locked-pkg" not in response.text


def test_files_need_a_login_too(server):
    path = file_path(server, "root/dev")
    url = httpx.URL(server.url + "/root/dev/+simple/locked-pkg/").join(path)
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=basic_auth("bob", "bob-pw")).status_code == 200


def test_devpi_client_gets_403_and_a_browser_the_login_form(server):
    devpi_client = {"User-Agent": "devpi-client/7.2.0"}
    response = httpx.get(server.url + "/root/dev/+simple/", headers=devpi_client)
    assert response.status_code == 403
    assert "devpi login" in response.json()["message"]
    page = httpx.get(server.url + "/root/dev/locked-pkg?x=1", headers=BROWSER)
    assert page.status_code == 302
    goto = "%2Froot%2Fdev%2Flocked-pkg%3Fx%3D1"
    assert page.headers["Location"] == server.url + "/+login?goto_url=" + goto


@pytest.mark.parametrize("path", ["/+api", "/root/dev/+api", "/+login"])
def test_the_routes_needed_to_log_in_stay_open(server, path):
    assert httpx.get(server.url + path).status_code == 200


def test_static_assets_stay_open(server):
    page = httpx.get(server.url + "/+login", headers=BROWSER)
    assert page.status_code == 200
    root = server.request("GET", "/", auth=("bob", "bob-pw"), headers=BROWSER)
    static = re.search(r'href="([^"]*\+static[^"]*\.css)"', root.text).group(1)
    url = httpx.URL(server.url + "/").join(static)
    assert httpx.get(url).status_code == 200
    check = httpx.get(server.url + "/+authcheck", headers={"X-Original-URI": url.path})
    assert check.status_code == 200


def test_logged_in_users_read_and_the_json_login_works(server):
    assert server.request("GET", "/root/dev/+simple/", auth=("bob", "bob-pw")).status_code == 200
    headers = server.auth_headers("bob", "bob-pw")
    assert httpx.get(server.url + "/root/dev/locked-pkg", headers=headers).status_code == 200
    wrong = httpx.get(server.url + "/root/dev/", headers=basic_auth("bob", "wrong"))
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("uri", "headers", "status"),
    [
        ("/root/dev/+simple/locked-pkg/", {}, 401),
        ("/root/dev/+simple/locked-pkg/", {"User-Agent": "devpi-client/7.2"}, 403),
        ("/root/dev/+simple/locked-pkg/", basic_auth("bob", "bob-pw"), 200),
        ("/+api", {}, 200),
        ("/+login", {}, 200),
        ("/alice/private/+simple/locked-pkg/", basic_auth("bob", "bob-pw"), 403),
        ("/alice/private/+simple/locked-pkg/", basic_auth("alice", "alice-pw"), 200),
    ],
)
def test_authcheck_answers_as_devpi_lockdown(server, uri, headers, status):
    response = httpx.get(server.url + "/+authcheck", headers={"X-Original-URI": uri, **headers})
    assert response.status_code == status


def test_acl_read_limits_an_index_to_its_readers(server):
    paths = ("/alice/private/+simple/locked-pkg/", "/alice/private/locked-pkg", "/alice/private")
    for path in paths:
        assert server.request("GET", path, auth=("bob", "bob-pw")).status_code == 403, path
        assert server.request("GET", path, auth=("alice", "alice-pw")).status_code == 200, path
        assert server.request("GET", path).status_code == 200, path  # root reads everything


def test_an_index_is_refused_to_whoever_may_not_read_one_of_its_bases(server):
    server.create_index("alice/derived", auth=("alice", "alice-pw"), bases="alice/private",
                        acl_read=":AUTHENTICATED:")  # fmt: skip
    for path in ("/alice/derived/+simple/locked-pkg/", "/alice/derived/locked-pkg"):
        refused = server.request("GET", path, auth=("bob", "bob-pw"))
        assert refused.status_code == 403
        assert "inherits from alice/private" in refused.json()["message"]
        assert "locked_pkg" not in refused.text
        assert server.request("GET", path, auth=("alice", "alice-pw")).status_code == 200
    check = httpx.get(server.url + "/+authcheck", headers={
        "X-Original-URI": "/alice/derived/+simple/locked-pkg/", **basic_auth("bob", "bob-pw")})
    assert check.status_code == 403


def test_listings_never_name_an_index_the_requester_may_not_read(server):
    root_json = server.request("GET", "/", auth=("bob", "bob-pw")).json()["result"]
    assert "private" not in root_json["alice"]["indexes"]
    assert "dev" in root_json["root"]["indexes"]
    user_json = server.request("GET", "/alice", auth=("bob", "bob-pw")).json()["result"]
    assert "private" not in user_json["indexes"]
    for path in ("/", "/alice"):
        page = server.request("GET", path, auth=("bob", "bob-pw"), headers=BROWSER)
        assert page.status_code == 200
        assert "alice/private" not in page.text and ">private<" not in page.text
    owner = server.request("GET", "/alice", auth=("alice", "alice-pw")).json()["result"]
    assert "private" in owner["indexes"]
    page = server.request("GET", "/", auth=("alice", "alice-pw"), headers=BROWSER)
    assert "alice/private" in page.text


def test_search_never_names_what_the_requester_may_not_read(server):
    def hits(user, password):
        page = server.request("GET", "/+search?query=locked", auth=(user, password),
                              headers=BROWSER)  # fmt: skip
        assert page.status_code == 200
        return set(re.findall(r'href="[^"]*/((?:alice|root)/\w+)/locked-pkg', page.text))

    deadline = time.monotonic() + 60
    while "alice/private" not in hits("alice", "alice-pw"):
        assert time.monotonic() < deadline, "the search index did not catch up"
        time.sleep(0.2)
    seen_by_bob = hits("bob", "bob-pw")
    assert "root/dev" in seen_by_bob and "alice/private" not in seen_by_bob
    # Left out for bob only.
    assert "alice/private" in hits("alice", "alice-pw")


def test_an_index_open_to_anonymous_readers_is_readable_without_a_login(server):
    assert httpx.get(server.url + "/root/public/+simple/locked-pkg/").status_code == 200
    assert httpx.get(server.url + "/root/dev/+simple/locked-pkg/").status_code == 401


def login_page(client, server, goto=None):
    params = {"goto_url": goto} if goto else {}
    page = client.get(server.url + "/+login", params=params, headers=BROWSER)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return token


def test_the_html_login_sets_a_cookie_that_authenticates_and_logout_clears_it(server):
    with httpx.Client() as client:
        token = login_page(client, server, "/root/dev/locked-pkg")
        answer = client.post(
            server.url + "/+login?goto_url=%2Froot%2Fdev%2Flocked-pkg",
            data={"username": "bob", "password": "bob-pw", "csrf_token": token},
            headers=BROWSER,
        )
        assert answer.status_code == 302, answer.text
        assert answer.headers["Location"] == server.url + "/root/dev/locked-pkg"
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("auth_tkt=bob%3A")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "secure" not in cookie.lower()
        page = client.get(server.url + "/root/dev/locked-pkg", headers=BROWSER)
        assert page.status_code == 200
        # The web pages show who is logged in, and link the logout form.
        assert "Logged in as <strong>bob</strong>" in page.text
        assert f'href="{server.url}/+logout"' in page.text
        assert "bob" in client.get(server.url + "/+logout", headers=BROWSER).text
        token = login_page(client, server)
        out = client.post(server.url + "/+logout", data={"csrf_token": token}, headers=BROWSER)
        assert out.status_code == 302
        assert client.get(server.url + "/root/dev/locked-pkg", headers=BROWSER).status_code == 302


def test_a_wrong_password_shows_the_form_again(server):
    with httpx.Client() as client:
        token = login_page(client, server)
        answer = client.post(
            server.url + "/+login",
            data={"username": "bob", "password": "nope", "csrf_token": token},
            headers=BROWSER,
        )
        assert answer.status_code == 401
        assert "wrong username or password" in answer.text
        assert "auth_tkt" not in answer.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("csrf", [None, "forged", "förged-ü"])
def test_a_login_or_logout_without_the_csrf_token_is_refused(server, csrf):
    with httpx.Client() as client:
        login_page(client, server)
        data = {"username": "bob", "password": "bob-pw"}
        if csrf:
            data["csrf_token"] = csrf
        answer = client.post(server.url + "/+login", data=data, headers=BROWSER)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
        assert "auth_tkt" not in answer.headers.get("Set-Cookie", "")
        out = client.post(server.url + "/+logout", data={}, headers=BROWSER)
        assert out.status_code == 403


@pytest.mark.parametrize(
    "goto",
    ["http://evil.example/", "//evil.example/x", "https://evil.example/+login", "javascript:x"],
)
def test_goto_url_to_another_host_is_refused(server, goto):
    with httpx.Client() as client:
        token = login_page(client, server)
        shown = client.get(server.url + "/+login", params={"goto_url": goto}, headers=BROWSER)
        assert shown.status_code == 400
        answer = client.post(
            server.url + "/+login",
            params={"goto_url": goto},
            data={"username": "bob", "password": "bob-pw", "csrf_token": token},
            headers=BROWSER,
        )
        assert answer.status_code == 400
        assert "goto_url" in answer.text


def test_the_cookies_are_secure_when_the_outside_url_is_https(make_live_server):
    server = make_live_server(plugins=["lockdown"], args=["--outside-url", "https://shelf.example"])
    server.create_user("bob", "bob-pw")
    form = httpx.get(server.url + "/+login", headers=BROWSER)
    assert 'action="https://shelf.example/+login"' in form.text
    assert "secure" in form.headers["Set-Cookie"].lower()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    # httpx keeps Secure cookies from plain-http requests: the test sends it by hand.
    answer = httpx.post(
        server.url + "/+login?goto_url=https%3A%2F%2Fshelf.example%2Froot",
        data={"username": "bob", "password": "bob-pw", "csrf_token": token},
        headers={**BROWSER, "Cookie": f"lockdown_csrf={token}"},
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "https://shelf.example/root"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("auth_tkt=") and "; secure" in cookie.lower() and "HttpOnly" in cookie
