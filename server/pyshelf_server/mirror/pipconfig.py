"""The index pip itself uses where ``pyshelf-init`` runs: the default upstream of ``root/pypi``.

In order: ``PIP_INDEX_URL``, pip's configured ``global.index-url``, pip's own built-in default.
pip is asked (``python -m pip config get``, and pip's own model of its default index), so a
company whose pip points at an internal index gets that index as upstream, and no package
registry's address is written in this code.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Mapping


class PipConfigError(Exception):
    """pip could not tell which index it uses."""


def _run_pip(args: list[str], env: Mapping[str, str]) -> str | None:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
            capture_output=True, text=True, timeout=60, env=dict(env), check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _first_url(value: str) -> str:
    # pip allows several whitespace-separated values in its configuration; the first counts.
    return value.split()[0]


def pip_index_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    from_env = env.get("PIP_INDEX_URL", "").strip()
    if from_env:
        return _first_url(from_env)
    configured = _run_pip(["config", "get", "global.index-url"], env)
    if configured:
        return _first_url(configured)
    builtin = _pip_builtin(env)
    if builtin:
        return builtin[0]
    raise PipConfigError(
        "cannot tell which index pip uses (is pip installed?); pass --mirror-url"
    )


def _pip_builtin(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(simple URL, web site URL) of pip's built-in default index."""
    return _pip_builtin_for(tuple(sorted(env.items())))


@functools.cache
def _pip_builtin_for(env: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    # Cached: pyshelf-init asks twice (the URL, then its web page format), and each answer
    # costs a Python start-up.
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url); print(PyPI.url)"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            env=dict(env), check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or not lines[0].startswith(("http://", "https://")):
        return None
    return lines[0], lines[1]


def web_url_format(mirror_url: str, env: Mapping[str, str] | None = None) -> str | None:
    """devpi's ``mirror_web_url_fmt`` when the upstream is pip's built-in index (a link to its
    project pages), else None."""
    builtin = _pip_builtin(os.environ if env is None else env)
    if builtin is None or mirror_url.rstrip("/") != builtin[0].rstrip("/"):
        return None
    return builtin[1].rstrip("/") + "/project/{name}/"
