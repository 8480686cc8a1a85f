"""The server's settings, as the command line and the environment give them."""

from __future__ import annotations

import re
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
DEFAULT_OIDC_AUDIENCE = "pyshelf"
# Audiences of the public index and its test instance: an ID token made for either could be
# replayed here, and one made for pyshelf there.
REFUSED_OIDC_AUDIENCES = ("pypi", "testpypi")
_AUDIENCE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def oidc_audience_problem(audience: str) -> str | None:
    """Why ``audience`` cannot be the server's OIDC audience, or None. Lower-case letters,
    digits and "-" only: GitLab jobs read the token from a variable named after it
    (``PYSHELF_ID_TOKEN`` for ``pyshelf``)."""
    if audience in REFUSED_OIDC_AUDIENCES:
        return (
            f"{audience!r} is the public index's audience: its ID tokens could be replayed "
            "here and ours there; choose one unique to this server"
        )
    if not _AUDIENCE.fullmatch(audience):
        return f"{audience!r} must be 1 to 64 lower-case letters, digits and '-'"
    return None


# How long a stored file no row refers to is left alone (storage/orphans.py).
ORPHAN_GRACE_SECONDS = 3600
MIN_ORPHAN_GRACE_SECONDS = 60
# How often the retention rules run (retention/job.py); 0: only by pyshelf-server --cleanup.
CLEANUP_INTERVAL = 3600


@dataclass
class ServerSettings:
    serverdir: Path = DEFAULT_SERVERDIR
    host: str = "127.0.0.1"
    port: int = 3141
    threads: int = 16
    db_url: str | None = None
    storage_url: str | None = None
    # An S3-compatible store's endpoint; None: boto3's own (AWS_ENDPOINT_URL, else AWS).
    s3_endpoint_url: str | None = None
    # Answer downloads from an S3 store with a redirect to a presigned URL.
    s3_redirect: bool = False
    outside_url: str | None = None
    absolute_urls: bool = False
    allow_user_registration: bool = False
    max_upload_size: int = DEFAULT_MAX_UPLOAD_SIZE
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    # 0: as many as the open-files limit leaves room for (wsgiserver.connection_limit).
    connection_limit: int = 0
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    login_token_seconds: int = LOGIN_TOKEN_SECONDS
    # API tokens (accounts.tokens): the expiry a token gets when none is asked for, and the
    # longest one a user other than root may ask for.
    token_default_seconds: int = 365 * 24 * 3600
    token_max_seconds: int = 365 * 24 * 3600
    mirror_cache_expiry: int = 1800
    request_timeout: float = 60.0
    # Seconds to wait for a TCP (and TLS) connection to an upstream index or a push target.
    connect_timeout: float = 5.0
    # Worker threads that may wait on one upstream host at once; 0: half of ``threads``.
    upstream_threads: int = 0
    # Whether users other than root may create mirror indexes.
    allow_user_mirrors: bool = False
    # Hosts and networks an external push may reach although they are not public (a comma list).
    push_allow_hosts: str = ""
    offline_mode: bool = False
    debug: bool = False
    orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS
    cleanup_interval: int = CLEANUP_INTERVAL
    # Whether requests are counted and /+metrics is served (metrics.py).
    metrics: bool = True
    # When set, /+metrics answers only requests with "Authorization: Bearer <token>".
    metrics_token: str = ""
    # With nginx in front: answer stored files with "X-Accel-Redirect: <prefix>/<path in the
    # store>" and no body, so that nginx sends the bytes (files/nginx/pyshelf.conf).
    x_accel_redirect: str = ""
    # pypiserver's URLs: /simple/ and POST / serve this index (defaultindex.py).
    default_index: str = ""
    # OIDC trusted publishing (oidc/): whether /_/oidc/mint-token mints upload tokens, the
    # audience ID tokens must name, and issuers allowed beyond the defaults ("PROVIDER=URL").
    trusted_publishing: bool = False
    oidc_audience: str = DEFAULT_OIDC_AUDIENCE
    oidc_issuers: list[str] = field(default_factory=list)
    # An Apache htpasswd file whose users log in with its passwords (accounts/htpasswd.py).
    htpasswd: str = ""
    # Options added by plugins through pyshelf_add_parser_options, keyed by argparse dest.
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.serverdir = Path(self.serverdir).expanduser().resolve()

    @property
    def upstream_thread_limit(self) -> int:
        return self.upstream_threads or max(1, self.threads // 2)

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
    def storage_url_file(self) -> Path:
        return self.serverdir / ".storage-url"

    @property
    def storage(self) -> Path | S3Location:
        """The file store: the one given (``--storage-url``), else the one ``pyshelf-init
        --storage-url`` recorded, else ``files`` in the server directory. Several server
        processes on one database share it. ``ValueError`` for a URL that names none."""
        url = self.storage_url
        if not url and self.storage_url_file.exists():
            url = self.storage_url_file.read_text().strip()
        if not url:
            return self.serverdir / "files"
        return parse_storage_url(url)

    @property
    def files_dir(self) -> Path:
        """The directory of a directory store."""
        storage = self.storage
        if isinstance(storage, S3Location):
            raise ValueError(f"the store is {storage}, not a directory")
        return storage

    @property
    def legacy_secret_file(self) -> Path:
        """Where server directories made before the secret moved into the database keep it."""
        return self.serverdir / ".secret"

    @property
    def version_file(self) -> Path:
        return self.serverdir / ".serverversion"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    # Keys are ``<prefix>/ab/<sha256>``; empty: at the bucket's top.
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


# S3's rule for new bucket names (lowercase, digits, dots and hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_storage_url(url: str) -> Path | S3Location:
    """The store of a ``--storage-url``: a directory (a path or a ``file://`` URL) or
    ``s3://BUCKET/PREFIX``."""
    if url.startswith("s3://"):
        bucket, _slash, prefix = url[len("s3://") :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(f"storage URL {url!r}: {bucket!r} is not an S3 bucket name")
        prefix = prefix.strip("/")
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ValueError(f"storage URL {url!r}: the prefix has an empty or dot segment")
        return S3Location(bucket, prefix)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise ValueError(f"unsupported storage URL {url!r}: give a directory or s3://BUCKET/PREFIX")
    return Path(url).expanduser().resolve()
