"""The server's settings, as the command line and the environment give them."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_SERVERDIR = Path("~/.pyshelf/server").expanduser()
DEFAULT_MAX_UPLOAD_SIZE = 256 * 1024 * 1024
# Browsers and installers send a few KiB at most; waitress's own bound is 256 KiB.
DEFAULT_MAX_HEADER_SIZE = 64 * 1024
DEFAULT_IDLE_TIMEOUT = 60
# What a URI may contain (RFC 3986): everything else is percent-encoded or refused.
URI_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


def outside_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the server's outside URL (``--outside-url``, the ``X-Outside-Url``
    header), or None. Pages and redirects put it in front of their links, so it must be a plain
    http(s) URL: no other scheme, no credentials, query or fragment, no character a URI cannot
    hold."""
    if not set(url) <= URI_CHARACTERS:
        return "it contains characters a URL cannot hold"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is not an http or https URL with a host"
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in url or "#" in url:
        return "it must not hold credentials, a query or a fragment"
    return None


LOGIN_TOKEN_SECONDS = 36000


@dataclass
class ServerSettings:
    serverdir: Path = DEFAULT_SERVERDIR
    host: str = "127.0.0.1"
    port: int = 3141
    threads: int = 16
    db_url: str | None = None
    outside_url: str | None = None
    absolute_urls: bool = False
    allow_user_registration: bool = False
    max_upload_size: int = DEFAULT_MAX_UPLOAD_SIZE
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    # 0: as many as the open-files limit leaves room for (wsgiserver.connection_limit).
    connection_limit: int = 0
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    login_token_seconds: int = LOGIN_TOKEN_SECONDS
    mirror_cache_expiry: int = 1800
    request_timeout: float = 60.0
    offline_mode: bool = False
    debug: bool = False
    # Options added by plugins through pyshelf_add_parser_options, keyed by argparse dest.
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.serverdir = Path(self.serverdir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The URL given, else the one ``pyshelf-init --db-url`` recorded, else SQLite in the
        server directory."""
        if self.db_url:
            return self.db_url
        recorded = self.db_url_file
        if recorded.exists():
            return recorded.read_text().strip()
        return f"sqlite:///{self.serverdir / 'pyshelf.sqlite3'}"

    @property
    def db_url_file(self) -> Path:
        return self.serverdir / ".db-url"

    @property
    def files_dir(self) -> Path:
        return self.serverdir / "files"

    @property
    def secret_file(self) -> Path:
        return self.serverdir / ".secret"

    @property
    def version_file(self) -> Path:
        return self.serverdir / ".serverversion"
