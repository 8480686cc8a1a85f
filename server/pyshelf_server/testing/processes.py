"""Server processes on free loopback ports: start, wait for an answer, stop."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# The scripts (pyshelf-init, pyshelf-server, pip, …) of the environment the tests run in.
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    name: str,
    *,
    timeout: float,
    poll: float = 0.05,
) -> None:
    """Wait until ``url`` answers 200; raise with the end of the log if the process exits or
    the time runs out (the caller stops the process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(poll)
    raise RuntimeError(f"{name} did not answer: {log_path.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes] | None, *, timeout: float = 15) -> None:
    """Terminate ``process`` and wait for it; kill it if it does not go in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
