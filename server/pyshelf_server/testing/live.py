"""Real ``pyshelf-server`` processes (``live_server``, ``make_live_server``), for end-to-end
tests with pip, uv, twine and the devpi client."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .credentials import ROOT_PASSWORD, basic_auth
from .postgres import new_database_url
from .processes import BIN, free_port, stop_process, wait_until_answering


def default_test_plugins() -> list[str]:
    from ..plugins import installed_plugin_names

    return [name for name in installed_plugin_names() if name == "web"]


class LiveServer:
    """A real ``pyshelf-server`` process."""

    def __init__(
        self,
        serverdir: Path,
        *,
        root_password: str = ROOT_PASSWORD,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        init_args: list[str] | None = None,
        plugins: list[str] | None = None,
    ) -> None:
        self.serverdir = Path(serverdir)
        # Exactly these installed plugins are loaded (``--plugins``): by default the web
        # plugin when it is installed, never an optional plugin a test is not about.
        self.plugins = default_test_plugins() if plugins is None else list(plugins)
        self.root_password = root_password
        self.args = list(args or [])
        self.env = dict(env or {})
        self.init_args = list(init_args or [])
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.serverdir.parent / f"{self.serverdir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        if not (self.serverdir / ".serverversion").exists():
            if not any(a.startswith("--db-url") for a in self.init_args):
                url = new_database_url()
                if url:
                    self.init_args += ["--db-url", url]
            subprocess.run(
                [
                    str(BIN / "pyshelf-init"),
                    "--serverdir",
                    str(self.serverdir),
                    "--root-passwd",
                    self.root_password,
                    *self.init_args,
                ],
                check=True,
                capture_output=True,
                timeout=120,
                env={**os.environ, **self.env},
            )

    def start(self, timeout: float = 30) -> LiveServer:
        self.init()
        self.port = free_port()
        env = {**os.environ, "PYSHELF_PLUGINS": ",".join(self.plugins), **self.env}
        log = open(self.log_path, "ab")
        self._log = log
        self.process = subprocess.Popen(
            [
                str(BIN / "pyshelf-server"),
                "--serverdir",
                str(self.serverdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_until_answering(
                self.process, self.url + "/+api", self.log_path, "pyshelf-server", timeout=timeout
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    # -- small API driver, for setting up state in tests ---------------------------------

    def login(self, user: str = "root", password: str | None = None) -> str:
        password = self.root_password if password is None and user == "root" else password
        response = httpx.post(
            self.url + "/+login",
            json={"user": user, "password": password},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["result"]["password"]

    def auth_headers(self, user: str = "root", password: str | None = None) -> dict[str, str]:
        token = self.login(user, password)
        value = base64.b64encode(f"{user}:{token}".encode()).decode()
        return {"X-Devpi-Auth": value, "Accept": "application/json"}

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str | None] | None = ("root", None),
        **kw: Any,
    ) -> httpx.Response:
        headers = {"Accept": "application/json", **kw.pop("headers", {})}
        if auth is not None:
            user, password = auth
            password = self.root_password if password is None and user == "root" else password
            headers.update(basic_auth(user, password or ""))
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def create_user(self, name: str, password: str, **fields: Any) -> None:
        response = self.request("PUT", f"/{name}", json={"password": password, **fields})
        assert response.status_code == 201, response.text

    def create_index(
        self, fullname: str, auth: tuple[str, str | None] = ("root", None), **options: Any
    ) -> dict[str, Any]:
        response = self.request("PUT", f"/{fullname}", json=options, auth=auth)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def upload(
        self,
        fullname: str,
        path: Path,
        *,
        name: str,
        version: str,
        auth: tuple[str, str | None] = ("root", None),
        **fields: str,
    ) -> httpx.Response:
        with open(path, "rb") as content:
            return self.request(
                "POST",
                f"/{fullname}/",
                auth=auth,
                data={":action": "file_upload", "name": name, "version": version, **fields},
                files={"content": (path.name, content)},
                headers={"Accept": "*/*"},
            )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the whole session; tests must use their own index names."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "server").start()
    yield server
    server.stop()


@pytest.fixture
def make_live_server(tmp_path: Path) -> Iterator[Any]:
    """A factory of fresh real servers, stopped after the test."""
    servers: list[LiveServer] = []

    def make(name: str = "server", **kw: Any) -> LiveServer:
        server = LiveServer(tmp_path / name, **kw).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
