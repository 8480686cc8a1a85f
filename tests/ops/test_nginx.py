"""The shipped nginx configuration in front of a real server: TLS, forwarded headers, uploads,
and stored files sent by nginx through X-Accel-Redirect (Debian's nginx; no container)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pyshelf_server.testing import free_port, make_wheel

ROOT = Path(__file__).parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def require_nginx() -> None:
    if not os.path.exists(NGINX):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing: install Debian's nginx package (make nginx)")
        pytest.skip("nginx is not installed (Debian's nginx package; make nginx)")


def site_config(server, http_port: int, https_port: int, certs: Path) -> str:
    """files/nginx/pyshelf.conf with the addresses of this test instead of compose's."""
    text = (ROOT / "files" / "nginx" / "pyshelf.conf").read_text()
    replacements = {
        "server pyshelf:3141;": f"server 127.0.0.1:{server.port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/nginx/certs/": f"{certs}/",
        "alias /app/data/server/files/;": f"alias {server.serverdir / 'files'}/;",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return "\n".join(line for line in text.splitlines() if "listen [::]" not in line)


@pytest.fixture
def nginx(make_live_server, tmp_path):
    require_nginx()
    server = make_live_server(args=["--x-accel-redirect", "/+store/"])
    certs = tmp_path / "certs"
    subprocess.run(["sh", str(ROOT / "files" / "nginx" / "self-signed-cert.sh")], check=True,
                   env={"PATH": "/usr/bin:/bin", "PYSHELF_CERT_DIR": str(certs),
                        "PYSHELF_TLS_NAME": "localhost"}, capture_output=True)
    http_port, https_port = free_port(), free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "pyshelf.conf").write_text(site_config(server, http_port, https_port, certs))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events {}\nhttp {\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n"
        f"  scgi_temp_path {prefix}/scgi;\n  include {prefix}/pyshelf.conf;\n}}\n"
    )
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"https://127.0.0.1:{https_port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/+health", verify=False, timeout=2)
            break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
    yield server, url, f"http://127.0.0.1:{http_port}"
    process.terminate()
    process.wait(timeout=10)


def test_files_go_out_through_nginx(nginx, tmp_path):
    server, url, plain = nginx
    client = httpx.Client(base_url=url, verify=False, timeout=30)
    server.create_index("root/dev")
    filename, content = make_wheel("proxied-pkg", "1.0")
    # An upload through the proxy.
    upload = client.post(
        "/root/dev/", auth=("root", server.root_password),
        data={":action": "file_upload", "name": "proxied-pkg", "version": "1.0"},
        files={"content": (filename, content)},
    )
    assert upload.status_code == 200, upload.text
    # Links are built on the URL the client used (X-Outside-Url from nginx).
    page = client.get("/root/dev/+simple/proxied-pkg/")
    assert page.status_code == 200
    assert f'href="{url}/root/dev/' in page.text
    href = page.text.split('href="', 1)[1].split("#", 1)[0]
    # pyshelf alone answers with the redirect into the store and no body ...
    direct = httpx.get(href.replace(url, server.url))
    assert direct.status_code == 200
    assert direct.headers["X-Accel-Redirect"].startswith("/+store/")
    assert direct.content == b""
    # ... which nginx follows: the bytes, the content type, no internal header.
    through = client.get(href)
    assert through.status_code == 200
    assert through.content == content
    assert through.headers["content-type"] == "application/octet-stream"
    assert "x-accel-redirect" not in through.headers
    # A HEAD and a conditional request still come from pyshelf.
    etag = direct.headers["ETag"]
    assert client.get(href, headers={"If-None-Match": etag}).status_code == 304
    # The store is not reachable by URL.
    internal = client.get(direct.headers["X-Accel-Redirect"])
    assert internal.status_code == 404
    # Plain HTTP moves to HTTPS, except the liveness probe.
    assert httpx.get(plain + "/root/dev/").status_code == 301
    assert httpx.get(plain + "/+health").json() == {"status": "ok"}
