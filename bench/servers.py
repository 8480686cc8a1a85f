"""Start, time, measure and stop the servers under test.

Why a module of its own: every scenario needs the same three things from a server — a fresh
server directory, the wall-clock time from ``exec`` to the first ``200``, and its resident
memory — and they must be taken the same way for pyshelf, devpi-server and the static file
reference, or the ratios mean nothing.  Each server runs as a real subprocess on a free
loopback port; nothing here ever listens on or talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import abc
import fcntl
import http.client
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAIN_BIN = REPO / ".venv" / "bin"
DEVPI_VENV = REPO / ".venv-devpi"
CORE_VENV = REPO / ".venv-bench"
ROOT_PASSWORD = "bench-root-password"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` plus all its descendants, in kB (0 when gone)."""
    total = 0
    for current in _tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                pass
    return found


def cpu_seconds_tree(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants, in seconds (0 when gone)."""
    total = 0
    for current in _tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_for_200(port: int, path: str, deadline: float, process: subprocess.Popen) -> bool:
    """Poll ``GET path`` every 5 ms with the stdlib client (no import cost on our side)."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers={"Accept": "application/json"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


class Server(abc.ABC):
    """One server process on a loopback port, with its own server directory and log."""

    name = "server"
    ready_path = "/+api"

    def __init__(self, workdir: Path, *, threads: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.serverdir = self.workdir / f"{self.name}-serverdir"
        self.log_path = self.workdir / f"{self.name}.log"
        self.threads = threads
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @abc.abstractmethod
    def init_command(self) -> list[str]:
        """The command that prepares the server's data directory."""

    @abc.abstractmethod
    def server_command(self) -> list[str]:
        """The command that runs the server on ``self.port``."""

    def version(self) -> str:
        return "?"

    def init(self) -> float:
        """Create a fresh server directory; returns the seconds it took."""
        if self.serverdir.exists():
            shutil.rmtree(self.serverdir)
        started = time.monotonic()
        subprocess.run(self.init_command(), check=True, capture_output=True, timeout=300)
        return time.monotonic() - started

    def start(self, timeout: float = 120) -> float:
        """Start the server; returns the seconds from exec to the first 200 on ``ready_path``."""
        self.port = free_port()
        self._log = open(self.log_path, "ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.server_command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        if not wait_for_200(self.port, self.ready_path, started + timeout, self.process):
            tail = self.log_path.read_text(errors="replace")[-3000:]
            self.stop()
            raise RuntimeError(f"{self.name} did not answer 200 on {self.ready_path}:\n{tail}")
        return time.monotonic() - started

    def rss_kb(self) -> int:
        return rss_kb(self.pid) if self.process else 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


class Pyshelf(Server):
    """pyshelf from a venv: ``.venv`` (the server with every plugin installed there) by default,
    or ``.venv-bench`` (the server alone, see ``ensure_core_venv``)."""

    name = "pyshelf"
    bin_dir = MAIN_BIN

    def init_command(self) -> list[str]:
        return [
            str(self.bin_dir / "pyshelf-init"),
            "--serverdir",
            str(self.serverdir),
            "--root-passwd",
            ROOT_PASSWORD,
        ]

    def server_command(self) -> list[str]:
        command = [
            str(self.bin_dir / "pyshelf-server"),
            "--serverdir",
            str(self.serverdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.threads:
            command += ["--threads", str(self.threads)]
        if self.bin_dir == MAIN_BIN:
            # .venv holds every optional plugin too (make install-test); the figures are of
            # the server with the web plugin, as `make run` serves it.
            command += ["--plugins", "web"]
        return command

    def version(self) -> str:
        return installed_version(self.bin_dir / "python", "pyshelf-server")


class Devpi(Server):
    """devpi-server from the side venv, without the root/pypi mirror (nothing upstream)."""

    name = "devpi"

    def init_command(self) -> list[str]:
        return [
            str(DEVPI_VENV / "bin" / "devpi-init"),
            "--serverdir",
            str(self.serverdir),
            "--no-root-pypi",
            "--root-passwd",
            ROOT_PASSWORD,
        ]

    def server_command(self) -> list[str]:
        command = [
            str(DEVPI_VENV / "bin" / "devpi-server"),
            "--serverdir",
            str(self.serverdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.threads:
            command += ["--threads", str(self.threads)]
        return command

    def version(self) -> str:
        out = subprocess.run(
            [str(DEVPI_VENV / "bin" / "devpi-server"), "--version"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return (
            (out.stdout.strip() or out.stderr.strip()).splitlines()[-1]
            if out.returncode == 0
            else "?"
        )


class StaticServer(Server):
    """The reference point: ``python -m http.server`` (ThreadingHTTPServer, HTTP/1.0) serving
    a saved copy of a page from disk, under the same path pyshelf serves it at."""

    name = "static"
    ready_path = "/"

    def __init__(self, workdir: Path, *, threads: int | None = None) -> None:
        super().__init__(workdir, threads=threads)
        self.root = self.workdir / "static-root"

    def save(self, path: str, body: bytes) -> None:
        target = self.root / path.strip("/") / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)

    def init(self) -> float:
        self.root.mkdir(parents=True, exist_ok=True)
        return 0.0

    def init_command(self) -> list[str]:
        # init() above prepares the directory itself: no command to run.
        return []

    def server_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "http.server",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(self.root),
        ]

    def version(self) -> str:
        return "Python " + sys.version.split()[0] + " http.server"


class WaitressReference(StaticServer):
    """The ceiling: the same saved page served as bytes by a bare WSGI app in pyshelf's waitress
    configuration, with pyshelf's default thread count (``reference_app.py``)."""

    name = "waitress"
    threads_default = 16

    def server_command(self) -> list[str]:
        return [
            str(MAIN_BIN / "python"),
            str(Path(__file__).with_name("reference_app.py")),
            str(self.root),
            str(self.port),
            str(self.threads or self.threads_default),
        ]

    def version(self) -> str:
        return "waitress " + installed_version(MAIN_BIN / "python", "waitress")


def installed_version(python: Path, distribution: str) -> str:
    """The version of ``distribution`` installed for the interpreter ``python``, or "?"."""
    out = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m; print(m.version({distribution!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip() or "?"


def devpi_available() -> bool:
    return (DEVPI_VENV / "bin" / "devpi-server").exists()


def ensure_devpi_venv(create: bool) -> bool:
    """Make ``.venv-devpi`` with devpi-server when asked.  The client tests (tests/client/
    conftest.py) create the same venv: same lock file, same marker, same pin, so whoever comes
    first installs and the other reuses it."""
    marker = DEVPI_VENV / ".pyshelf-installed"
    if devpi_available() and marker.exists():
        return True
    if not create:
        return devpi_available()
    with open(REPO / ".venv-devpi.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            if not (DEVPI_VENV / "bin" / "python").exists():
                subprocess.run(["python3", "-m", "venv", str(DEVPI_VENV)], check=True, timeout=300)
            subprocess.run(
                [str(DEVPI_VENV / "bin" / "pip"), "install", "-q", "devpi-server>=6.10,<7"],
                check=True,
                timeout=900,
                capture_output=True,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            )
            marker.touch()
    return devpi_available()


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


def compile_editable_sources(bin_dir: Path = MAIN_BIN) -> None:
    """Write the ``.pyc`` files of the editable parts (``server/``, ``web/``, ``client/``,
    ``plugins/*``).  pip compiles what it installs into site-packages, so devpi-server and the
    ``.venv-bench`` snapshot start from bytecode; an editable install's sources are compiled only
    when Python may write them: with ``PYTHONDONTWRITEBYTECODE`` set (as on the bench machine)
    every start compiled them again, ~0.3 s of CPU."""
    parts = [REPO / p for p in ("server", "web", "client")] + sorted(REPO.glob("plugins/*"))
    packages = [str(init.parent) for part in parts for init in part.glob("*/__init__.py")]
    subprocess.run(
        [str(bin_dir / "python"), "-m", "compileall", "-q", *packages],
        check=False,
        timeout=300,
        capture_output=True,
    )


def ensure_core_venv() -> Path:
    """``.venv-bench``: the server package alone, installed (not editable) from a snapshot of
    the last commit's ``server/``.  Why: in a checkout that other engineers edit while the
    benchmark runs, an editable install would measure whatever half-written code is on disk
    when a server (re)starts, and plugins installed into ``.venv`` would come along.  The
    snapshot is reinstalled when HEAD moves; its commit is recorded with the results."""
    bin_dir = CORE_VENV / "bin"
    commit = git_commit()
    marker = CORE_VENV / ".pyshelf-commit"
    if not (bin_dir / "python").exists():
        python = shutil.which("python3.11") or shutil.which("python3") or sys.executable
        subprocess.run([python, "-m", "venv", str(CORE_VENV)], check=True, timeout=300)
    if not marker.exists() or marker.read_text().strip() != commit:
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        with tempfile.TemporaryDirectory(prefix="pyshelf-bench-src-") as tmp:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", "HEAD", "server"],
                check=True,
                capture_output=True,
                timeout=120,
            ).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tmp, filter="data")
            subprocess.run(
                [
                    str(bin_dir / "pip"),
                    "install",
                    "-q",
                    "--force-reinstall",
                    "--no-deps",
                    str(Path(tmp) / "server"),
                ],
                check=True,
                timeout=900,
                capture_output=True,
                env=env,
            )
            subprocess.run(
                [str(bin_dir / "pip"), "install", "-q", str(Path(tmp) / "server")],
                check=True,
                timeout=900,
                capture_output=True,
                env=env,
            )
        marker.write_text(commit + "\n")
    return bin_dir
