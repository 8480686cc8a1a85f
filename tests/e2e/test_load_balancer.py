"""Several server processes behind a real load balancer, as docs/cluster.md tells users to run
them: nginx (Debian's nginx-light) spreads requests over two pyshelf processes that share one
database and one store. pip, uploads and logins go through the balancer's one address, and the
balancer's URL is the one the pages link to. When one process is killed, reads go on through the
other."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyshelf_server.testing import basic_auth, free_port, make_wheel
from tests.e2e.conftest import BIN, isolated_env, run
from tests.server.test_cluster import start_pair

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(prefix: Path, port: int, backends: list[int]) -> str:
    """The configuration of docs/cluster.md, with the test's ports and a private prefix."""
    servers = "\n".join(
        f"        server 127.0.0.1:{backend} max_fails=1 fail_timeout=10s;" for backend in backends
    )
    # Run as root (CI), nginx's workers would switch to a user that may not read the prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
daemon off;
events {{ worker_connections 512; }}
http {{
    log_format backend '$request_method $uri $upstream_addr $status';
    access_log {prefix}/access.log backend;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream pyshelf {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://pyshelf;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Outside-Url $scheme://$http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
            # Reads go to the other process when one is down; a POST is never sent twice.
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


@pytest.fixture
def balanced(tmp_path: Path) -> Any:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx-light")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    first, second, _store = start_pair(tmp_path)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    (prefix / "nginx.conf").write_text(nginx_config(prefix, port, [first.port, second.port]))
    balancer = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/+api", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if balancer.poll() is not None or time.monotonic() > deadline:
            error = balancer.stderr.read().decode() if balancer.stderr else ""
            raise AssertionError(f"nginx did not start: {error}")
        time.sleep(0.05)
    yield url, first, second
    balancer.send_signal(signal.SIGQUIT)
    try:
        balancer.wait(timeout=10)
    except subprocess.TimeoutExpired:
        balancer.kill()
    first.stop()
    second.stop()


def test_two_processes_behind_nginx_serve_as_one(balanced: Any, tmp_path: Path) -> None:
    url, first, second = balanced
    auth = basic_auth("root", first.root_password)
    assert httpx.put(url + "/root/dev", json={"bases": []}, headers=auth).status_code == 200

    # Uploads spread over both processes by the balancer, each answered once.
    wheels = [make_wheel(f"balanced{i}", "1.0") for i in range(12)]
    for i, (filename, content) in enumerate(wheels):
        answer = httpx.post(
            url + "/root/dev/",
            data={":action": "file_upload", "name": f"balanced{i}", "version": "1.0"},
            files={"content": (filename, content)},
            headers=auth,
            timeout=60,
        )
        assert answer.status_code == 200, answer.text

    # Both processes took uploads (the balancer's log names the backend of each request).
    log = (tmp_path / "nginx" / "access.log").read_text().splitlines()
    backends = {line.split()[2] for line in log if line.startswith("POST /root/dev/ ")}
    assert backends == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}, log

    # The pages link through the balancer's address (X-Outside-Url), so pip fetches from it.
    page = httpx.get(url + "/root/dev/+simple/balanced3/", timeout=30)
    assert page.status_code == 200 and url + "/" in page.text, page.text
    env = isolated_env(tmp_path)
    downloads = tmp_path / "downloads"
    run(
        [
            str(BIN / "python"), "-m", "pip", "download", "--no-deps", "--dest", str(downloads),
            "--index-url", url + "/root/dev/+simple/", "balanced3==1.0",
        ],
        env=env,
    )
    assert [p.name for p in downloads.iterdir()] == [wheels[3][0]]

    # One process killed: every read still answers through the other.
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    for i in range(len(wheels)):
        page = httpx.get(url + f"/root/dev/+simple/balanced{i}/", timeout=30)
        assert page.status_code == 200, (i, page.status_code)
    # And writes go on too (a login token issued through either is good on the survivor).
    filename, content = make_wheel("after-kill", "1.0")
    answer = httpx.post(
        url + "/root/dev/",
        data={":action": "file_upload", "name": "after-kill", "version": "1.0"},
        files={"content": (filename, content)},
        headers=auth,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert httpx.get(second.url + "/root/dev/+simple/after-kill/").status_code == 200
