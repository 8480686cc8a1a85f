"""Fixtures for the client tests: real servers (pyshelf and devpi-server) and a CLI driver.

The end-to-end tests are parametrised over ``server``, which is either the real pyshelf
server (``live_server`` from ``pyshelf_server.testing``) or a real devpi-server. devpi-server
lives in its own virtualenv, ``<repo>/.venv-devpi``, created on first use, because its pins
must not meet the main environment's.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pyshelf_server.testing import LiveServer, free_port, stop_process, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
DEVPI_VENV = REPO / ".venv-devpi"
BIN = Path(sys.executable).parent
PYSHELF = BIN / "pyshelf"
ROOT_PASSWORD = "root-test-password"
COMMAND_TIMEOUT = 240
# Long enough for a test's setup, short enough to wait for in the expiry test.
SHORT_TOKEN_SECONDS = 20


# -- devpi-server ----------------------------------------------------------------------------


def ensure_devpi_venv() -> Path:
    """The side virtualenv with devpi-server, created once and reused by later sessions."""
    marker = DEVPI_VENV / ".pyshelf-installed"
    # The lock lives inside the (ignored) venv directory; `python -m venv` accepts it existing.
    DEVPI_VENV.mkdir(exist_ok=True)
    with open(DEVPI_VENV / ".pyshelf-lock", "w") as lock:
        # Two test sessions (or two engineers) may start at once; only one installs.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            if not (DEVPI_VENV / "bin" / "python").exists():
                subprocess.run(["python3", "-m", "venv", str(DEVPI_VENV)], check=True, timeout=300)
            subprocess.run(
                [str(DEVPI_VENV / "bin" / "pip"), "install", "-q", "devpi-server>=6.10,<7"],
                check=True,
                timeout=900,
            )
            marker.touch()
    return DEVPI_VENV


class DevpiServer:
    """A real devpi-server process on a free loopback port."""

    kind = "devpi"

    def __init__(self, serverdir: Path, *, args: list[str] | None = None) -> None:
        self.venv = ensure_devpi_venv()
        self.serverdir = serverdir
        self.root_password = ROOT_PASSWORD
        self.args = list(args or [])
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = serverdir.parent / f"{serverdir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> DevpiServer:
        if not self.serverdir.exists():
            subprocess.run(
                [
                    str(self.venv / "bin" / "devpi-init"),
                    "--serverdir",
                    str(self.serverdir),
                    "--no-root-pypi",
                    "--root-passwd",
                    self.root_password,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        # A restart keeps the port, so clients pointed at the server keep working.
        self.port = self.port or free_port()
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                str(self.venv / "bin" / "devpi-server"),
                "--serverdir",
                str(self.serverdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_answering(
                self.process, self.url + "/+api", self.log_path, "devpi-server",
                timeout=timeout, poll=0.2,
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=20)
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


@dataclass
class ServerHandle:
    """What a test needs to know about a server, whichever implementation runs it."""

    kind: str
    url: str
    root_password: str
    process: Any

    def expire_logins(self, clientdir: Path) -> None:
        """Make the login tokens in *clientdir* invalid, the way time would."""
        if self.kind == "pyshelf":
            # Started with short-lived tokens (see fresh_server): wait until the last one
            # the client holds has run out.
            logins = json.loads((clientdir / "auth.json").read_text())["logins"]
            last = max(login["expires"] for login in logins.values())
            time.sleep(max(0.0, last - time.time()) + 0.5)
        else:
            # devpi-server without --secretfile signs tokens with a new secret per start.
            self.process.stop()
            self.process.start()


@pytest.fixture(scope="session")
def devpi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    server = DevpiServer(tmp_path_factory.mktemp("devpi") / "server").start()
    yield server
    server.stop()


@pytest.fixture(params=["pyshelf", "devpi"])
def server(request: pytest.FixtureRequest) -> ServerHandle:
    """The session's real server of either kind; tests use their own user and index names."""
    if request.param == "pyshelf":
        live = request.getfixturevalue("live_server")
        return ServerHandle("pyshelf", live.url, live.root_password, live)
    devpi = request.getfixturevalue("devpi_server")
    return ServerHandle("devpi", devpi.url, devpi.root_password, devpi)


@pytest.fixture(params=["pyshelf", "devpi"])
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerHandle]:
    """A server of its own for tests that restart it or need short-lived logins and a
    small upload limit (10 kB)."""
    if request.param == "pyshelf":
        live = LiveServer(
            tmp_path / "pyshelf-server",
            root_password=ROOT_PASSWORD,
            args=["--login-token-seconds", str(SHORT_TOKEN_SECONDS), "--max-upload-size", "10000"],
        ).start()
        yield ServerHandle("pyshelf", live.url, live.root_password, live)
        live.stop()
    else:
        devpi = DevpiServer(
            tmp_path / "devpi-server", args=["--max-request-body-size", "10000"]
        ).start()
        yield ServerHandle("devpi", devpi.url, devpi.root_password, devpi)
        devpi.stop()


# -- the command line driver -------------------------------------------------------------------


def isolated_env(home: Path) -> dict[str, str]:
    """No pip/uv/twine/pyshelf setting of this machine or user leaks into a test."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "TWINE_", "PYSHELF_", "DEVPI_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        NO_COLOR="1",
    )
    return env


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"pyshelf {' '.join(self.args)} exited {self.returncode}\n"
            f"--- stdout:\n{self.stdout[-4000:]}\n--- stderr:\n{self.stderr[-4000:]}"
        )

    @property
    def error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one error line\n{self}"
        assert "Traceback" not in self.stderr
        return lines[0]


class Cli:
    """Runs the installed ``pyshelf`` command with its own client dir and home."""

    def __init__(self, tmp_path: Path, name: str = "cli") -> None:
        self.home = tmp_path / f"{name}-home"
        self.clientdir = tmp_path / f"{name}-clientdir"
        self.env = isolated_env(self.home)
        self.env["PYSHELF_CLIENTDIR"] = str(self.clientdir)
        self.cwd = tmp_path

    def run(
        self,
        *args: str,
        input: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Result:
        proc = subprocess.run(
            [str(PYSHELF), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            timeout=timeout,
        )
        return Result(list(args), proc.returncode, proc.stdout, proc.stderr)

    def __call__(self, *args: str, **kw: Any) -> Result:
        """Run and require success."""
        result = self.run(*args, **kw)
        assert result.returncode == 0, str(result)
        return result

    def fails(self, *args: str, code: int = 1, **kw: Any) -> Result:
        """Run and require failure with *code* and a one-line error, never a traceback."""
        result = self.run(*args, **kw)
        assert result.returncode == code, str(result)
        assert "Traceback" not in result.stderr, str(result)
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def make_cli(tmp_path: Path) -> Callable[[str], Cli]:
    return lambda name: Cli(tmp_path, name)


@pytest.fixture
def names() -> Callable[[str], str]:
    """Unique names, since the session's servers are shared between tests."""
    suffix = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}{suffix}"


# -- projects ------------------------------------------------------------------------------------


def write_project(
    root: Path, name: str, version: str, *, docs: str | None = "html", payload: int = 0
) -> Path:
    """A real project directory that `build` can build offline (setuptools, no isolation).

    docs="html" adds docs/index.html (already built HTML); docs="sphinx" adds a Sphinx
    docs/conf.py and index.rst; *payload* adds that many incompressible bytes.
    """
    module = name.replace("-", "_").lower()
    project = root / f"{name}-{version}"
    (project / "src" / module).mkdir(parents=True)
    (project / "src" / module / "__init__.py").write_text(f"VERSION = {version!r}\n")
    if payload:
        (project / "src" / module / "payload.bin").write_bytes(os.urandom(payload))
    (project / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        'description = "a pyshelf client test project"\n'
        'requires-python = ">=3.8"\n\n'
        "[tool.setuptools.package-data]\n"
        f'{module} = ["*.bin"]\n'
    )
    if docs == "html":
        (project / "docs").mkdir()
        (project / "docs" / "index.html").write_text(
            f"<html><body><h1>{name} {version}</h1></body></html>\n"
        )
    elif docs == "sphinx":
        (project / "docs").mkdir()
        (project / "docs" / "conf.py").write_text(f"project = {name!r}\nextensions = []\n")
        (project / "docs" / "index.rst").write_text(f"{name}\n{'=' * len(name)}\n\nHello.\n")
    return project


@pytest.fixture
def project_factory(tmp_path: Path) -> Callable[..., Path]:
    root = tmp_path / "projects"
    root.mkdir()
    return lambda name, version, **kw: write_project(root, name, version, **kw)
