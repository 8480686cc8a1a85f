"""``files/entrypoint.sh`` run for real (no container): the venv's pyshelf-init and
pyshelf-server on a temporary data directory, under dash and under bash."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pyshelf_server.testing import BIN, free_port

ENTRYPOINT = Path(__file__).parents[2] / "files" / "entrypoint.sh"
SHELLS = [shell for shell in ("dash", "bash") if shutil.which(shell)]


def require_shells() -> None:
    if os.environ.get("CI") == "true" and len(SHELLS) < 2:
        pytest.fail("the entrypoint tests need dash and bash (Debian's dash and bash packages)")


@pytest.fixture(params=SHELLS)
def shell(request):
    require_shells()
    return request.param


def environment(data: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(data),
        "PYSHELF_SERVERDIR": str(data / "data" / "server"),
        "PYSHELF_LOGDIR": str(data / "logs"),
        "PYSHELF_HOST": "127.0.0.1",
        "PYSHELF_NO_ROOT_PYPI": "true",
        "PYSHELF_ENTRYPOINT_D": str(data / "entrypoint.d"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


def run(shell: str, env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([shell, str(ENTRYPOINT), *args], env=env, capture_output=True,
                          text=True, timeout=120, **kw)


def start(shell: str, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen([shell, str(ENTRYPOINT), *args], env=env, stdout=out,
                            stderr=subprocess.STDOUT)


def wait_ready(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/+ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"never ready:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


def test_first_start_initialises_and_later_ones_migrate(shell, tmp_path):
    port = free_port()
    secret = tmp_path / "root-password"
    secret.write_text("from-a-secret-file\n")
    # The seed's variable names reach the server.
    env = environment(tmp_path, PYSHELF_ROOT_PASSWORD_FILE=str(secret), DEVPI_PORT=str(port))
    log = tmp_path / "first.log"
    process = start(shell, env, log)
    try:
        wait_ready(process, port, log)
        # exec: the process started is the server itself, so the signal reaches it.
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"pyshelf-server") for part in cmdline), cmdline
        login = httpx.post(f"http://127.0.0.1:{port}/+login",
                           json={"user": "root", "password": "from-a-secret-file"})
        assert login.status_code == 200, login.text
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert b"from-a-secret-file" not in environ
        assert b"PYSHELF_ROOT_PASSWORD" not in environ
    finally:
        assert stop(process) == 0, log.read_text()
    assert "initialising" in log.read_text()
    serverdir = tmp_path / "data" / "server"
    assert (serverdir / ".serverversion").exists()
    assert not (serverdir / ".root-password").exists()  # a password was given
    assert not list((tmp_path / "data").glob("server.init-*"))

    log = tmp_path / "second.log"
    process = start(shell, env, log, "--threads", "4")
    try:
        wait_ready(process, port, log)
    finally:
        assert stop(process) == 0
    text = log.read_text()
    assert "initialising" not in text
    assert "database schema is up to date" in text

    # PYSHELF_AUTO_MIGRATE=false: no migration step.
    log = tmp_path / "third.log"
    process = start(shell, {**env, "PYSHELF_AUTO_MIGRATE": "false"}, log)
    try:
        wait_ready(process, port, log)
    finally:
        assert stop(process) == 0
    assert "database schema is up to date" not in log.read_text()


def test_a_generated_password_is_printed_once_and_kept(shell, tmp_path):
    done = run(shell, environment(tmp_path), "pyshelf-server", "--version")
    # Another command than the server itself runs untouched: nothing initialised.
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pyshelf-server ")
    assert not (tmp_path / "data").exists()
    port = free_port()
    log = tmp_path / "server.log"
    process = start(shell, environment(tmp_path, PYSHELF_PORT=str(port)), log)
    try:
        wait_ready(process, port, log)
    finally:
        assert stop(process) == 0
    stored = (tmp_path / "data" / "server" / ".root-password").read_text().strip()
    assert f"root password: {stored}" in log.read_text()
    assert oct((tmp_path / "data" / "server" / ".root-password").stat().st_mode)[-3:] == "600"


def test_secrets_commands_and_hooks(shell, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("x")
    both = run(shell, environment(tmp_path, PYSHELF_ROOT_PASSWORD="y",
                                  PYSHELF_ROOT_PASSWORD_FILE=str(secret)))
    assert both.returncode == 1
    assert "both PYSHELF_ROOT_PASSWORD and PYSHELF_ROOT_PASSWORD_FILE are set" in both.stderr
    missing = run(shell, environment(tmp_path, PYSHELF_DB_URL_FILE=str(tmp_path / "nope")))
    assert missing.returncode == 1
    assert "PYSHELF_DB_URL_FILE names" in missing.stderr
    # Any other command passes through, with the secret read from its file.
    echoed = run(shell, environment(tmp_path, PYSHELF_METRICS_TOKEN_FILE=str(secret)),
                 "sh", "-c", 'echo "$PYSHELF_METRICS_TOKEN ${PYSHELF_METRICS_TOKEN_FILE-unset}"')
    assert echoed.returncode == 0
    assert echoed.stdout == "x unset\n"
    # A half-made server directory is refused, not initialised over.
    serverdir = tmp_path / "data" / "server"
    serverdir.mkdir(parents=True)
    (serverdir / "stray").write_text("")
    refused = run(shell, environment(tmp_path))
    assert refused.returncode == 1
    assert "is not empty but holds no initialised server" in refused.stderr


def as_nobody() -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_tmp():
    """A temporary directory another user may enter (pytest's own are private to root)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pyshelf-entrypoint-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_an_unwritable_directory_is_refused_with_the_fix(shell, open_tmp):
    tmp_path = open_tmp
    data = tmp_path / "data"
    data.mkdir()
    env = environment(tmp_path)
    if os.geteuid() == 0:
        # Root may write anywhere: the entrypoint runs as an unprivileged user instead, as
        # a container started with --user does.
        command = [*as_nobody(), shell, str(ENTRYPOINT)]
    else:
        data.chmod(0o555)
        command = [shell, str(ENTRYPOINT)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    finally:
        data.chmod(0o755)
    assert done.returncode == 1
    assert f"{data} is not writable by uid" in done.stderr
    assert "chown" in done.stderr
    assert not (data / "server").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to the service user needs root")
def test_started_as_root_it_runs_as_the_service_user(shell, open_tmp):
    tmp_path = open_tmp
    port = free_port()
    # "nobody" plays the image's pyshelf user here.
    env = environment(tmp_path, PYSHELF_USER="nobody", PYSHELF_PORT=str(port))
    log = tmp_path / "server.log"
    process = start(shell, env, log)
    try:
        wait_ready(process, port, log)
        status = Path(f"/proc/{process.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4, uid_line
    finally:
        assert stop(process) == 0
    assert (tmp_path / "data").stat().st_uid == 65534
    assert (tmp_path / "data" / "server" / ".serverversion").stat().st_uid == 65534
    assert (tmp_path / "logs").stat().st_uid == 65534
