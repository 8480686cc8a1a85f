"""Helpers for end-to-end tests: real tools run as subprocesses against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which pip, uv and twine see none of this machine's configuration."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_", "DEVPI_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CACHE="1",
        UV_NO_CONFIG="1",
    )
    return env


def run(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


def write_project(root: Path, name: str, version: str, *, summary: str = "a test project") -> Path:
    """A real project directory that `build` and `devpi upload` can build."""
    module = name.replace("-", "_").lower()
    project = root / f"{name}-{version}"
    (project / "src" / module).mkdir(parents=True)
    (project / "src" / module / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (project / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        f'description = "{summary}"\n'
        'requires-python = ">=3.8"\n'
    )
    return project


def build(project: Path, env: dict[str, str]) -> Path:
    run(
        [
            str(BIN / "python"),
            "-m",
            "build",
            "--no-isolation",
            "--outdir",
            str(project / "dist"),
            str(project),
        ],
        env=env,
    )
    return project / "dist"


def twine_upload(
    repository_url: str, user: str, password: str, dist: Path, env: dict[str, str], **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` of every file in ``dist``, twine's way of logging in (HTTP Basic)."""
    files = [str(path) for path in sorted(dist.iterdir())]
    return run(
        [str(BIN / "twine"), "upload", "--non-interactive", "--repository-url", repository_url,
         "-u", user, "-p", password, *files],
        env=env,
        **kw,
    )  # fmt: skip


def pip_install_into(target: Path, index_url: str, requirement: str, env: dict[str, str]) -> None:
    """``pip install --no-deps --target`` of one requirement from ``index_url``."""
    run(
        [str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--index-url", index_url, requirement],
        env=env,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return isolated_env(tmp_path)
