"""The client directory: which server and index are in use, and the login tokens.

Two JSON files live there. ``current.json`` holds the URLs learnt from the server's
``+api`` answer; ``auth.json`` holds one login token per server root. Both are written
with mode 0600 (and the directory with 0700) because the token is as good as the
password for ten hours.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

CLIENTDIR_ENV = "PYSHELF_CLIENTDIR"


def default_clientdir() -> Path:
    env = os.environ.get(CLIENTDIR_ENV)
    if env:
        return Path(env)
    return platformdirs.user_config_path("pyshelf") / "client"


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    # Write to a temporary file that already has mode 0600 and rename it into place,
    # so a token is never readable by others, not even for a moment, and a crash
    # never leaves half a file behind.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        # A damaged state file must not lock the user out of every command;
        # starting over only costs a new `pyshelf use`.
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Current:
    """What ``pyshelf use`` remembered. URLs are stored exactly as the server gave them."""

    root: str = ""
    login: str = ""
    index: str = ""
    simpleindex: str = ""
    pypisubmit: str = ""
    features: list[str] = field(default_factory=list)
    always_set_cfg: bool = False

    @property
    def index_name(self) -> str:
        """``user/index`` of the index in use, or ``""``."""
        if not self.index or not self.root:
            return ""
        return self.index[len(self.root) :].strip("/")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Current:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class Login:
    user: str
    token: str
    # Seconds since the epoch after which the server no longer honours the token;
    # 0 when the server did not say.
    expires: float = 0.0

    def expired(self, now: float | None = None) -> bool:
        if not self.expires:
            return False
        return (time.time() if now is None else now) >= self.expires


class ClientDir:
    """Reads and writes the state files of one client directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def current_path(self) -> Path:
        return self.path / "current.json"

    @property
    def auth_path(self) -> Path:
        return self.path / "auth.json"

    def load_current(self) -> Current:
        return Current.from_dict(_read_json(self.current_path))

    def save_current(self, current: Current) -> None:
        _write_private_json(self.current_path, asdict(current))

    def delete_current(self) -> bool:
        try:
            self.current_path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _load_auth(self) -> dict[str, Any]:
        data = _read_json(self.auth_path)
        logins = data.get("logins")
        return logins if isinstance(logins, dict) else {}

    def get_login(self, root: str) -> Login | None:
        entry = self._load_auth().get(_root_key(root))
        if not isinstance(entry, dict) or not entry.get("user") or not entry.get("token"):
            return None
        return Login(
            user=str(entry["user"]),
            token=str(entry["token"]),
            expires=float(entry.get("expires") or 0),
        )

    def set_login(self, root: str, login: Login) -> None:
        logins = self._load_auth()
        logins[_root_key(root)] = asdict(login)
        _write_private_json(self.auth_path, {"logins": logins})

    def delete_login(self, root: str) -> Login | None:
        logins = self._load_auth()
        entry = logins.pop(_root_key(root), None)
        _write_private_json(self.auth_path, {"logins": logins})
        if isinstance(entry, dict) and entry.get("user"):
            return Login(user=str(entry["user"]), token=str(entry.get("token", "")))
        return None


def _root_key(root: str) -> str:
    return root.rstrip("/") + "/"
