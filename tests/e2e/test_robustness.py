"""What a real server process does with broken clients and odd URLs."""

from __future__ import annotations

import base64
import hashlib
import socket
import time

import httpx
import pytest

from pyshelf_server.testing import make_wheel

pytestmark = pytest.mark.e2e


def stored_files(server):
    root = server.serverdir / "files"
    return [p for p in root.glob("??/*") if p.is_file()]


def test_interrupted_upload_leaves_nothing_behind(make_live_server):
    server = make_live_server()
    server.create_index("root/dev")
    filename, content = make_wheel("dropped", "1.0", description="x" * 200_000)
    boundary = "pyshelfboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\ndropped\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + content + tail
    auth = base64.b64encode(f"root:{server.root_password}".encode()).decode()
    request = (
        f"POST /root/dev/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Basic {auth}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request + body[: len(body) // 2])
        time.sleep(0.5)
    # The server notices the dropped connection; give it a moment, then look.
    time.sleep(1)
    assert httpx.get(f"{server.url}/root/dev/+simple/dropped/").status_code == 404
    assert server.request("GET", "/root/dev").json()["result"]["projects"] == []
    assert stored_files(server) == []
    # The same upload completed afterwards works.
    assert (
        server.upload(
            "root/dev", _write(server, filename, content), name="dropped", version="1.0"
        ).status_code
        == 200
    )


def _write(server, filename, content):
    path = server.serverdir.parent / filename
    path.write_bytes(content)
    return path


def test_pip_style_percent_encoded_plus_and_head(make_live_server, tmp_path):
    server = make_live_server()
    server.create_index("root/dev")
    filename, content = make_wheel("plus", "1.0")
    server.upload("root/dev", _write(server, filename, content), name="plus", version="1.0")
    sha = hashlib.sha256(content).hexdigest()
    url = f"{server.url}/root/dev/%2Bf/{sha[:3]}/{sha[3:16]}/{filename}"
    assert httpx.get(url).content == content
    head = httpx.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(content)
    assert httpx.get(f"{server.url}/root/dev/%2Bsimple/plus/").status_code == 200


def test_many_concurrent_uploads_all_land(make_live_server):
    """SQLite serialises writers; concurrent uploads must wait, not fail."""
    import concurrent.futures

    server = make_live_server()
    server.create_index("root/dev")
    token = server.login()
    headers = {"X-Devpi-Auth": base64.b64encode(f"root:{token}".encode()).decode()}

    def upload(i):
        filename, content = make_wheel(f"conc{i}", "1.0")
        response = httpx.post(
            f"{server.url}/root/dev/",
            headers=headers,
            timeout=60,
            data={":action": "file_upload", "name": f"conc{i}", "version": "1.0"},
            files={"content": (filename, content)},
        )
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(upload, range(40)))
    assert codes == [200] * 40
    assert len(server.request("GET", "/root/dev").json()["result"]["projects"]) == 40
