"""The root password of test servers, Basic credentials, htpasswd files and cheap password
hashing for in-process tests."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

ROOT_PASSWORD = "root-test-password"


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# The flags of Debian's htpasswd (apache2-utils) for each hash format it writes.
HTPASSWD_FORMATS = {"bcrypt": "-B", "sha1": "-s", "apr1": "-m", "crypt": "-d"}


def run_htpasswd(path: Path, *flags: str, user: str, password: str | None = None) -> None:
    """Run the real ``htpasswd`` on ``path`` (``-i``: the password from standard input, so it
    is in no argument list). Skipped where it is not installed, failed under CI."""
    import shutil

    program = shutil.which("htpasswd")
    if program is None:
        message = "htpasswd is not installed (Debian's apache2-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    stdin = None if password is None else password + "\n"
    args = [program, *flags, *([] if password is None else ["-i"]), str(path), user]
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def cheap_password_hashing() -> None:
    """Make argon2 cheap for in-process tests; the real servers of end-to-end tests keep the
    production parameters."""
    from passlib.context import CryptContext

    from .. import security

    security.password_context = CryptContext(
        schemes=["argon2", *security.HTPASSWD_SCHEMES],
        argon2__memory_cost=256,
        argon2__time_cost=1,
        argon2__parallelism=1,
    )
