"""External push (``posturl``) through a real server: who may push, where to, and that the
transfer holds no database lock."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pyshelf_server.testing import free_port, make_wheel


class Target:
    """A local HTTP server standing in for another package index: records each POST it gets
    and answers ``status``; with ``hold`` set it answers only once ``release()`` is called."""

    def __init__(self, *, status: int = 200, hold: bool = False) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.released = threading.Event()
        if not hold:
            self.released.set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                target.received.append({"headers": dict(self.headers), "body": body})
                target.arrived.set()
                target.released.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/upload/"

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    made: list[Target] = []

    def make(**kw: Any) -> Target:
        made.append(Target(**kw))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def start_server(make_live_server, tmp_path, *args: str):
    server = make_live_server(args=list(args))
    server.create_user("alice", "alicepw")
    server.create_index("alice/dev")
    server.create_index("alice/other")
    filename, content = make_wheel("pkg", "1.0", summary="pushed")
    wheel = tmp_path / filename
    wheel.write_bytes(content)
    response = server.upload(
        "alice/dev", wheel, name="pkg", version="1.0", auth=("alice", "alicepw")
    )
    assert response.status_code == 200, response.text
    return server, wheel


def push(server, posturl: str, *, auth: Any = ("alice", "alicepw"), **kw: Any):
    body = {"name": "pkg", "version": "1.0", "posturl": posturl, "username": "u",
            "password": "p"}
    return server.request("POST", "/alice/dev", json=body, auth=auth, **kw)


def test_push_needs_a_user_and_a_public_target(make_live_server, tmp_path, target):
    server, _wheel = start_server(make_live_server, tmp_path)
    listener = target()
    response = push(server, listener.url, auth=None)
    assert response.status_code == 401
    assert "authenticated" in response.json()["message"]
    # Loopback, a name resolving to loopback, link-local (cloud metadata), private networks.
    port = listener.server.server_address[1]
    for url in (
        listener.url,
        f"http://localhost:{port}/upload/",
        "http://169.254.169.254/latest/",
        "http://10.1.2.3/upload/",
        "http://[::ffff:127.0.0.1]:9/upload/",
    ):
        response = push(server, url)
        assert response.status_code == 403, (url, response.text)
        assert "--push-allow-hosts" in response.json()["message"]
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "http:///nohost", "http://[::1",
                "http://127.0.0.1:99999/", "http://example.com/\x01"):
        assert push(server, url).status_code == 400, url
    assert listener.received == []


def test_push_to_an_allowed_host(make_live_server, tmp_path, target):
    server, wheel = start_server(make_live_server, tmp_path, "--push-allow-hosts", "127.0.0.1")
    listener = target()
    response = push(server, listener.url)
    assert response.status_code == 200, response.text
    assert [entry[:2] for entry in response.json()["result"]] == [[200, "upload"]]
    (received,) = listener.received
    assert received["headers"]["Host"] == f"127.0.0.1:{listener.server.server_address[1]}"
    assert b'name=":action"\r\n\r\nfile_upload' in received["body"]
    assert wheel.read_bytes() in received["body"]


def test_push_reports_remote_errors_and_unreachable_targets(make_live_server, tmp_path, target):
    server, _wheel = start_server(make_live_server, tmp_path, "--push-allow-hosts", "127.0.0.0/8")
    refusing = target(status=403)
    response = push(server, refusing.url)
    assert response.status_code == 502
    assert response.json()["result"][0][0] == 403
    assert "answered 403" in response.json()["message"]

    closed = f"http://127.0.0.1:{free_port()}/upload/"
    response = push(server, closed)
    assert response.status_code == 502
    assert "unreachable" in response.json()["message"]


def test_push_to_the_server_itself(make_live_server, tmp_path):
    """The transfer holds no lock the target's upload would need (this deadlocked)."""
    server, _wheel = start_server(make_live_server, tmp_path, "--push-allow-hosts", "127.0.0.1")
    body = {"name": "pkg", "version": "1.0", "posturl": f"{server.url}/alice/other/",
            "username": "alice", "password": "alicepw"}
    response = httpx.post(f"{server.url}/alice/dev", json=body, timeout=30,
                          auth=("alice", "alicepw"), headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    listing = server.request("GET", "/alice/other/pkg").json()["result"]
    assert "1.0" in listing


def test_a_slow_target_stalls_no_upload(make_live_server, tmp_path, target):
    server, wheel = start_server(make_live_server, tmp_path, "--push-allow-hosts", "127.0.0.1")
    listener = target(hold=True)
    pushed: dict[str, Any] = {}
    pushing = threading.Thread(target=lambda: pushed.update(response=push(server, listener.url)))
    pushing.start()
    try:
        assert listener.arrived.wait(30), "the push never reached the target"
        # The push now waits on its target; the database must be free meanwhile.
        started = time.monotonic()
        response = server.upload("alice/other", wheel, name="pkg", version="1.0",
                                 auth=("alice", "alicepw"))
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        created = server.request("PUT", "/alice/third", json={}, auth=("alice", "alicepw"))
        assert created.status_code == 200, created.text
        # Milliseconds when nothing holds the lock; the bound is loose for a loaded machine.
        assert elapsed < 5, f"the upload waited {elapsed:.1f}s for the push"
    finally:
        listener.release()
        pushing.join(30)
    assert pushed["response"].status_code == 200


def test_every_address_is_checked_and_the_checked_one_is_connected_to(
    make_app, target, monkeypatch
):
    """A name is resolved once: the push goes to the address that passed the check, with the
    name in ``Host`` (a second lookup could answer otherwise: DNS rebinding)."""
    import socket

    from pyshelf_server.testing import Shelf

    from .test_push import upload_release

    listener = target()
    port = listener.server.server_address[1]
    answers = {
        "push.example": ["127.0.0.1"],
        # The first address is allowed, the second is not: refused all the same.
        "split.example": ["127.0.0.1", "10.0.0.1"],
    }
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        looked_up.append(host)
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                    for address in answers[host]]
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    shelf = upload_release(Shelf(make_app(push_allow_hosts="127.0.0.1")))

    def push_to(url: str, status: int):
        body = {"name": "pkg", "version": "1.0", "posturl": url}
        return shelf.json("PUSH", "/root/dev", body, user="root", status=status)

    refused = push_to(f"http://split.example:{port}/upload/", 403)
    assert "10.0.0.1" in refused.json["message"]
    push_to(f"http://push.example:{port}/upload/", 200)
    assert looked_up.count("push.example") == 1
    assert {r["headers"]["Host"] for r in listener.received} == {f"push.example:{port}"}


def test_an_external_push_sends_the_attestations_on(make_live_server, tmp_path, target):
    from pyshelf_server.testing import make_attestation

    server = make_live_server(args=["--push-allow-hosts", "127.0.0.1"])
    server.create_user("alice", "alicepw")
    server.create_index("alice/dev")
    filename, content = make_wheel("pkg", "1.0")
    wheel = tmp_path / filename
    wheel.write_bytes(content)
    attestation = make_attestation(filename, content)
    response = server.upload("alice/dev", wheel, name="pkg", version="1.0",
                             auth=("alice", "alicepw"),
                             attestations=json.dumps([attestation]))  # fmt: skip
    assert response.status_code == 200, response.text
    listener = target()
    assert push(server, listener.url).status_code == 200
    (received,) = listener.received
    sent = received["body"].split(b'name="attestations"\r\n\r\n', 1)[1].split(b"\r\n--", 1)[0]
    assert json.loads(sent) == [attestation]
