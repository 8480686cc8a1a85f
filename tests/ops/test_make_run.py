"""`make run` as a newcomer uses it: where the environment says, root's password first."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from pyshelf_server.testing import free_port, wait_until_answering

ROOT = Path(__file__).parents[2]
# Variables of an enclosing make (`make test`) would change what make prints.
OUTER_MAKE = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "SERVERDIR", "HOST", "PORT")


def test_make_run_serves_where_the_environment_says_password_first(tmp_path):
    port = free_port()
    serverdir = tmp_path / "server"
    env = {k: v for k, v in os.environ.items() if k not in OUTER_MAKE}
    env.update(PYSHELF_HOST="127.0.0.1", PYSHELF_PORT=str(port),
               PYSHELF_SERVERDIR=str(serverdir))
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}/+api", log_path, "make run",
                             timeout=120)
        password = (serverdir / ".root-password").read_text().strip()
        login = httpx.post(f"http://127.0.0.1:{port}/+login",
                           json={"user": "root", "password": password})
        assert login.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    # Nothing above the password: no build tool's warnings push it off the screen.
    assert lines[0] == f"root password: {password}", lines[:5]
    assert f"--serverdir {serverdir} --host 127.0.0.1 --port {port} " in "\n".join(lines)


def test_make_run_port_wins_over_the_environment():
    env = {k: v for k, v in os.environ.items() if k not in OUTER_MAKE}
    env["PYSHELF_PORT"] = "4001"
    done = subprocess.run(["make", "-n", "run", "PORT=4002"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert "--port 4002 " in done.stdout.splitlines()[-1]


def test_installs_keep_the_build_tools_output_in_a_log():
    """Shown only when an install fails (its lines as make would run them)."""
    done = subprocess.run(["make", "-n", "-B", "install", "VENV=/nonexistent/venv"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    pip_lines = [line for line in done.stdout.splitlines() if "/pip install" in line]
    assert pip_lines
    for line in pip_lines:
        assert line.endswith("> /nonexistent/venv/install.log 2>&1 || { cat "
                             "/nonexistent/venv/install.log; exit 1; }"), line
