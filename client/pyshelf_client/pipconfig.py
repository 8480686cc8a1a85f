"""Writing the installer configuration for ``pyshelf use --set-cfg``.

Three files are touched, each only in the keys pyshelf owns, so the rest of a user's
configuration survives:

- pip: ``global.index-url`` (plus ``global.trusted-host`` for plain HTTP to a non-loopback
  host) in ``$PIP_CONFIG_FILE`` when set, else the user's pip.conf;
- uv: an ``[[index]]`` entry named ``pyshelf`` marked ``default = true`` in ``$UV_CONFIG_FILE``
  when set, else the user's uv.toml;
- twine and other uploaders: a ``[pyshelf]`` repository in ``~/.pypirc``;
- poetry: the repository ``pyshelf`` (``poetry publish -r pyshelf``) in its ``config.toml``
  (``$POETRY_CONFIG_DIR`` when set, else the user's pypoetry folder).

No password is ever written: pip reads anonymously, and twine asks (or reads
``TWINE_PASSWORD``). Given an API token (``pyshelf use --set-cfg --token``), ``.pypirc``
gets it as the password of ``__token__`` and poetry as ``pypi-token.pyshelf`` in its
``auth.toml``, both files readable by their owner only.
"""

from __future__ import annotations

import configparser
import io
import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit

PYPIRC_SECTION = "pyshelf"
UV_INDEX_NAME = "pyshelf"
POETRY_REPOSITORY = "pyshelf"
TOKEN_USER = "__token__"  # noqa: S105 (the user name uploaders send with an API token)


@dataclass(frozen=True)
class ConfigPaths:
    pip: Path
    uv: Path
    pypirc: Path
    poetry: Path


def _user_config_home(env: Mapping[str, str]) -> Path:
    if sys.platform == "win32" and env.get("APPDATA"):
        return Path(env["APPDATA"])
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"])
    return _home(env) / ".config"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def config_paths(env: Mapping[str, str] | None = None) -> ConfigPaths:
    """Where pip, uv and twine will look for their user configuration."""
    env = os.environ if env is None else env
    config_home = _user_config_home(env)
    pip_file = env.get("PIP_CONFIG_FILE")
    if pip_file and pip_file != os.devnull:
        pip = Path(pip_file)
    else:
        pip = config_home / "pip" / ("pip.ini" if sys.platform == "win32" else "pip.conf")
    uv_file = env.get("UV_CONFIG_FILE")
    uv = Path(uv_file) if uv_file else config_home / "uv" / "uv.toml"
    poetry_dir = env.get("POETRY_CONFIG_DIR")
    if poetry_dir:
        poetry = Path(poetry_dir)
    elif sys.platform == "darwin":
        poetry = _home(env) / "Library" / "Application Support" / "pypoetry"
    else:
        poetry = config_home / "pypoetry"
    return ConfigPaths(pip=pip, uv=uv, pypirc=_home(env) / ".pypirc", poetry=poetry)


def needs_trusted_host(url: str) -> str | None:
    """The host pip must trust for *url*, or None; pip already trusts loopback over HTTP."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return host


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_pip_conf(path: Path, simpleindex: str) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read(path, encoding="utf-8")
    if not parser.has_section("global"):
        parser.add_section("global")
    parser.set("global", "index-url", simpleindex)
    trusted = needs_trusted_host(simpleindex)
    if trusted:
        parser.set("global", "trusted-host", trusted)
    out = io.StringIO()
    parser.write(out)
    _write_text(path, out.getvalue())


def write_uv_toml(path: Path, simpleindex: str) -> None:
    if path.exists():
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    else:
        document = tomlkit.document()
    # uv refuses a file that sets both the legacy key and a default [[index]].
    for legacy in ("index-url",):
        if legacy in document:
            del document[legacy]
    indexes = document.get("index")
    if indexes is None:
        indexes = tomlkit.aot()
        document["index"] = indexes
    kept = [
        entry
        for entry in indexes
        if entry.get("name") != UV_INDEX_NAME and not entry.get("default", False)
    ]
    entry = tomlkit.table()
    entry["name"] = UV_INDEX_NAME
    entry["url"] = simpleindex
    entry["default"] = True
    new = tomlkit.aot()
    for item in kept:
        new.append(item)
    new.append(entry)
    document["index"] = new
    _write_text(path, tomlkit.dumps(document))


def write_pypirc(path: Path, pypisubmit: str, username: str, token: str | None = None) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read(path, encoding="utf-8")
    if not parser.has_section("distutils"):
        parser.add_section("distutils")
    servers = parser.get("distutils", "index-servers", fallback="").split()
    if PYPIRC_SECTION not in servers:
        servers.append(PYPIRC_SECTION)
    parser.set("distutils", "index-servers", "\n" + "\n".join(servers))
    if not parser.has_section(PYPIRC_SECTION):
        parser.add_section(PYPIRC_SECTION)
    parser.set(PYPIRC_SECTION, "repository", pypisubmit)
    if token:
        parser.set(PYPIRC_SECTION, "username", TOKEN_USER)
        parser.set(PYPIRC_SECTION, "password", token)
    elif username:
        parser.set(PYPIRC_SECTION, "username", username)
    elif parser.has_option(PYPIRC_SECTION, "username"):
        parser.remove_option(PYPIRC_SECTION, "username")
    out = io.StringIO()
    parser.write(out)
    _write_text(path, out.getvalue())
    # .pypirc may hold other repositories' passwords.
    path.chmod(0o600)


def _update_toml(path: Path, change: Any) -> None:
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    change(document)
    _write_text(path, tomlkit.dumps(document))


def _table(document: Any, key: str) -> Any:
    if key not in document:
        document[key] = tomlkit.table()
    return document[key]


def write_poetry(config_dir: Path, pypisubmit: str, token: str | None) -> list[Path]:
    """The repository in poetry's ``config.toml``; with ``token``, its ``pypi-token`` in
    ``auth.toml`` (where poetry reads credentials when no keyring holds them)."""
    config = config_dir / "config.toml"
    _update_toml(
        config,
        lambda doc: _table(_table(doc, "repositories"), POETRY_REPOSITORY).update(
            {"url": pypisubmit}
        ),
    )
    written = [config]
    if token:
        auth = config_dir / "auth.toml"
        _update_toml(auth, lambda doc: _table(doc, "pypi-token").update({POETRY_REPOSITORY: token}))
        auth.chmod(0o600)
        written.append(auth)
    return written


def write_all(
    *,
    simpleindex: str,
    pypisubmit: str,
    username: str,
    token: str | None = None,
    paths: ConfigPaths | None = None,
) -> list[tuple[str, Path]]:
    """Write every configuration; return (tool, path) pairs for the report."""
    paths = paths or config_paths()
    write_pip_conf(paths.pip, simpleindex)
    write_uv_toml(paths.uv, simpleindex)
    written = [("pip", paths.pip), ("uv", paths.uv)]
    if pypisubmit:
        write_pypirc(paths.pypirc, pypisubmit, username, token)
        written.append(("pypirc", paths.pypirc))
        written.extend(("poetry", path) for path in write_poetry(paths.poetry, pypisubmit, token))
    return written
