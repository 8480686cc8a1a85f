"""Moving in from devpi: a dump written by the real devpi-server (6.x, in its side venv), imported
with ``pyshelf-import --from-devpi``, then used with the real devpi client and a devpi password."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import zipfile

import httpx
import pytest

from pyshelf_server.testing import BIN, default_test_plugins, make_sdist, make_wheel
from tests.client.conftest import DevpiServer

pytestmark = pytest.mark.e2e


def devpi_session(server, user, password):
    token = httpx.post(server.url + "/+login", json={"user": user, "password": password},
                       headers={"Accept": "application/json"}).json()["result"]["password"]
    auth = base64.b64encode(f"{user}:{token}".encode()).decode()
    return httpx.Client(base_url=server.url, timeout=60,
                        headers={"X-Devpi-Auth": auth, "Accept": "application/json"})


def test_a_devpi_export_moves_in_with_its_passwords(tmp_path, make_live_server):
    devpi = DevpiServer(tmp_path / "devpi").start()
    try:
        root = devpi_session(devpi, "root", devpi.root_password)
        assert root.put("/alice", json={"password": "alice-devpi-pw",
                                        "email": "alice@example.org"}).status_code == 201
        alice = devpi_session(devpi, "alice", "alice-devpi-pw")
        assert alice.put("/alice/base", json={"volatile": False,
                                              "title": "Base"}).status_code == 200
        made = alice.put("/alice/dev", json={"bases": ["alice/base"],
                                             "mirror_whitelist": ["shared"]})
        assert made.status_code == 200, made.text
        files = {}
        for index, (name, version, maker) in [
            ("alice/base", ("shared", "1.0", make_wheel)),
            ("alice/dev", ("app-kit", "2.0", make_sdist)),
            ("alice/dev", ("app-kit", "2.0", make_wheel)),
        ]:
            filename, content = maker(name, version)
            response = alice.post(f"/{index}/", data={":action": "file_upload", "name": name,
                                                      "version": version},
                                  files={"content": (filename, content)})
            assert response.status_code == 200, response.text
            files[(index, filename)] = content
        docs = io.BytesIO()
        with zipfile.ZipFile(docs, "w") as archive:
            archive.writestr("index.html", "<h1>app-kit</h1>")
        response = alice.post("/alice/dev/", data={":action": "doc_upload", "name": "app-kit",
                                                   "version": "2.0"},
                              files={"content": ("app-kit-2.0.doc.zip", docs.getvalue())})
        assert response.status_code == 200, response.text
        wheel = make_wheel("app-kit", "2.0")[0]
        sha = hashlib.sha256(files[("alice/dev", wheel)]).hexdigest()
        links = alice.get("/alice/dev/app-kit/2.0").json()["result"]["+links"]
        href = next(link["href"] for link in links if link["href"].endswith(wheel))
        tox = alice.post(href, json={"testenvs": {"py311": {"test": [{"retcode": 0}]}}})
        assert tox.status_code == 200, tox.text
    finally:
        devpi.stop()
    dump = tmp_path / "dump"
    export = subprocess.run([str(devpi.venv / "bin" / "devpi-export"), "--serverdir",
                             str(devpi.serverdir), str(dump)], capture_output=True, text=True,
                            timeout=300)
    assert export.returncode == 0, export.stderr
    data = json.loads((dump / "dataindex.json").read_text())
    assert data["dumpversion"] == "2"
    assert data["users"]["alice"]["pwhash"].startswith("$argon2")

    serverdir = tmp_path / "pyshelf"
    done = subprocess.run([str(BIN / "pyshelf-import"), "--serverdir", str(serverdir),
                           "--plugins", ",".join(default_test_plugins()),
                           "--from-devpi", str(dump)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported 2 users, 2 indexes, 5 files" in done.stdout, done.stdout
    server = make_live_server("pyshelf", root_password=devpi.root_password)
    assert server.serverdir == serverdir
    # The real devpi client logs in with the password alice had on devpi.
    clientdir = tmp_path / "client"
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def devpi_client(*args):
        result = subprocess.run([str(BIN / "devpi"), "--clientdir", str(clientdir), *args],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    devpi_client("use", server.url + "/alice/dev")
    assert "logged in 'alice'" in devpi_client("login", "alice", "--password", "alice-devpi-pw")
    wrong = httpx.post(server.url + "/+login", json={"user": "alice", "password": "nope"})
    assert wrong.status_code == 401
    listed = devpi_client("list", "app-kit")
    for index, filename in files:
        if index == "alice/dev":
            assert filename in listed
    config = server.request("GET", "/alice/dev").json()["result"]
    assert config["bases"] == ["alice/base"]
    assert config["mirror_whitelist"] == ["shared"]
    assert server.request("GET", "/alice/base").json()["result"]["volatile"] is False
    # Every file byte for byte, through the index's inheritance too.
    for (index, filename), content in files.items():
        sha = hashlib.sha256(content).hexdigest()
        got = httpx.get(f"{server.url}/{index}/+f/{sha[:3]}/{sha[3:16]}/{filename}")
        assert got.content == content
    page = httpx.get(f"{server.url}/alice/dev/+simple/shared/")
    assert "shared-1.0-py3-none-any.whl" in page.text
    links = server.request("GET", "/alice/dev/app-kit/2.0").json()["result"]["+links"]
    assert {link["rel"] for link in links} >= {"releasefile", "doczip", "toxresult"}
