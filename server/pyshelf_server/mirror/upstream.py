"""Talking to an upstream simple index: one shared httpx client, project pages parsed from PEP
691 JSON or PEP 503 HTML, the project list streamed to a file (``listparse`` parses it), and a
small error tree.

Any PEP 503/691 index works as upstream (another pyshelf or devpi index, pypiserver, a static
tree served over HTTP). JSON is asked for first; HTML is read by libxml2's HTML parser (see
``markup.page_anchors``).

Errors (only these leave this module; httpx's own are translated)::

    UpstreamError                  no usable answer from upstream
     ├── UpstreamUnavailable       connection refused, DNS or TLS failure, broken transfer
     │    └── UpstreamTimeout      no answer within the timeout
     ├── UpstreamStatusError       an HTTP status that is neither a success, 304 nor 404
     ├── UpstreamContentError      an answer that is not a simple page
     └── UpstreamBusy              too many requests wait on that upstream host already
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from .. import __version__
from ..limits import MAX_FILENAME_LENGTH
from .markup import is_json, page_anchors

log = logging.getLogger(__name__)

PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
)
# Pieces in which the project list is written to its file while it arrives.
LIST_CHUNK = 256 * 1024
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# What ``names.filename_error`` refuses in a file name, as one scan: a page of thousands of
# links is checked link by link.
_BAD_FILENAME_CHAR = re.compile(r'[\x00-\x1f\x7f/\\<>%#"?*:|]')
# An absolute http(s) URL of printable ASCII only: used as it is, without urljoin.
_PLAIN_ABSOLUTE = re.compile(r"https?://[!-~]+\Z")


class UpstreamError(Exception):
    """No usable answer from upstream; the message names the upstream and the failure."""


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamUnavailable):
    pass


class UpstreamStatusError(UpstreamError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class UpstreamContentError(UpstreamError):
    pass


class UpstreamBusy(UpstreamError):
    """Upstream was not asked: its host has as many requests waiting on it as allowed."""

    # Seconds a client is told to wait (``Retry-After``): a place is free again as soon as
    # one fetch ends, which for a healthy upstream is well under this.
    retry_after = 2


@dataclass(frozen=True)
class ProjectPage:
    """A project page as upstream sent it; ``links`` are dicts (see :func:`make_link`)."""

    name: str | None
    links: list[dict[str, Any]]
    etag: str | None
    serial: int | None


@dataclass(frozen=True)
class NotModified:
    serial: int | None = None


@dataclass(frozen=True)
class NotFound:
    pass


@dataclass(frozen=True)
class ProjectList:
    """Upstream's project list, its body written to ``path`` as received (not parsed yet: see
    ``listparse``)."""

    path: Path
    content_type: str
    size: int
    etag: str | None
    serial: int | None


def safe_url(url: str) -> str:
    """``url`` without credentials, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def host_of(url: str) -> str:
    """``host:port`` of ``url``, the unit upstream concurrency is limited by."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    return f"{parts.hostname or ''}:{port or (443 if parts.scheme == 'https' else 80)}"


def project_url(mirror_url: str, name: str) -> str:
    return mirror_url.rstrip("/") + "/" + name + "/"


if TYPE_CHECKING:
    import httpx


def _httpx() -> Any:
    """httpx, imported when the mirror first talks to upstream, not when the server starts: it
    and its transport took ~50 ms before the server's first answer (the mirror's warm-up
    imports it right after)."""
    import httpx

    return httpx


def user_agent() -> str:
    return f"pyshelf-server/{__version__} httpx/{_httpx().__version__}"


class Upstream:
    """The process's one HTTP client for upstream indexes: keep-alive connections shared by all
    threads, timeouts, a user agent naming pyshelf, proxy settings from the environment."""

    def __init__(
        self, *, timeout: float, connect_timeout: float,
        observe: Callable[[str, str, float, int], None] | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        # Told (kind, outcome, seconds to the headers, bytes read) of every upstream request,
        # for the metrics.
        self.observe = observe or (lambda kind, outcome, seconds, size: None)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    httpx = _httpx()
                    self._client = httpx.Client(
                        # A host that does not even accept connections is known to be
                        # down within the connect timeout, not the whole request timeout.
                        timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                        headers={"User-Agent": user_agent()},
                        follow_redirects=True,
                        # HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE come from the environment.
                        trust_env=True,
                    )
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _observed(
        self, kind: str, started: float, response: httpx.Response | None,
        error: Exception | None = None, size: int = 0,
    ) -> None:
        if error is not None:
            outcome = "timeout" if isinstance(error, _httpx().TimeoutException) else "connect_error"
        elif response.status_code == 304:
            outcome = "304"
        else:
            outcome = f"{response.status_code // 100}xx"
        self.observe(kind, outcome, time.perf_counter() - started, size)

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        httpx = _httpx()
        started = time.perf_counter()
        try:
            response = self.client.get(url, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            self._observed("page", started, None, error)
            raise translate(error, url) from None
        self._observed("page", started, response, size=len(response.content))
        return response

    def fetch_project(self, mirror_url: str, name: str, *, etag: str | None = None) -> (
        ProjectPage | NotModified | NotFound
    ):
        url = project_url(mirror_url, name)
        headers = {"Accept": PAGE_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        response = self._get(url, headers)
        serial = _serial(response)
        if response.status_code == 304:
            return NotModified(serial=serial)
        if response.status_code in (404, 410):
            return NotFound()
        check_status(response, url)
        display, links = parse_page(response.content, response.headers.get("content-type", ""),
                                    str(response.url))
        return ProjectPage(name=display, links=links, etag=response.headers.get("etag"),
                           serial=serial)

    def fetch_list(self, mirror_url: str, into: Path, *, etag: str | None = None) -> (
        ProjectList | NotModified
    ):
        """Upstream's project list, its body streamed into the file ``into`` (tens of MB for a
        large index: never held in memory)."""
        url = mirror_url.rstrip("/") + "/"
        headers = {"Accept": PAGE_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        httpx = _httpx()
        started = time.perf_counter()
        answered = False
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                answered = True
                if response.status_code == 304:
                    self._observed("list", started, response)
                    return NotModified(serial=_serial(response))
                if not 200 <= response.status_code < 300:
                    self._observed("list", started, response)
                check_status(response, url)
                size = 0
                with open(into, "wb") as out:
                    for chunk in response.iter_bytes(LIST_CHUNK):
                        out.write(chunk)
                        size += len(chunk)
                self._observed("list", started, response, size=size)
                return ProjectList(
                    path=into, content_type=response.headers.get("content-type", ""), size=size,
                    etag=response.headers.get("etag"), serial=_serial(response),
                )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            if not answered:
                self._observed("list", started, None, error)
            raise translate(error, url) from None

    @contextmanager
    def stream(self, url: str) -> Iterator[httpx.Response]:
        """The response to ``GET url``, its body not read yet; a non-success is an error.

        The body is asked for as stored (``identity``): upstream's hash is of those bytes, and
        an archive served with a ``Content-Encoding`` must not be unpacked on the way.
        """
        headers = {"Accept-Encoding": "identity"}
        httpx = _httpx()
        started = time.perf_counter()
        answered = False
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                self._observed("file", started, response)
                answered = True
                check_status(response, url)
                yield response
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            if not answered:  # a failure while reading the body was counted as its status
                self._observed("file", started, None, error)
            raise translate(error, url) from None


def translate(error: Exception, url: str) -> UpstreamError:
    where = safe_url(url)
    if isinstance(error, _httpx().TimeoutException):
        return UpstreamTimeout(f"upstream {where} timed out ({type(error).__name__})")
    detail = str(error) or type(error).__name__
    return UpstreamUnavailable(f"upstream {where} is unreachable: {detail}")


def check_status(response: httpx.Response, url: str) -> None:
    if 200 <= response.status_code < 300:
        return
    raise UpstreamStatusError(
        f"upstream {safe_url(url)} answered {response.status_code} {response.reason_phrase}",
        response.status_code,
    )


def _serial(response: httpx.Response) -> int | None:
    raw = response.headers.get("x-pypi-last-serial")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


# -- links ---------------------------------------------------------------------------------


def _hashes(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(k).lower(): v.lower()
        for k, v in raw.items()
        if isinstance(v, str) and _HEX.match(v)
    }


def _bad_filename(filename: str) -> bool:
    """The same verdict as ``names.filename_error``, faster."""
    return (
        not filename
        or len(filename) > MAX_FILENAME_LENGTH
        or filename.startswith(".")
        or _BAD_FILENAME_CHAR.search(filename) is not None
    )


def resolve(base: str, href: str) -> tuple[str, str]:
    """(absolute URL without its fragment, the fragment) of ``href`` on the page at ``base``."""
    url = href if _PLAIN_ABSOLUTE.match(href) else urljoin(base, href)
    url, _sep, fragment = url.partition("#")
    return url, fragment


def _url_filename(url: str) -> str:
    """The last segment of the path of ``url`` (an absolute URL without fragment), unquoted."""
    rest = url.partition("://")[2]
    slash = rest.find("/")
    path = rest[slash:].partition("?")[0] if slash >= 0 else ""
    return unquote(path.rsplit("/", 1)[-1])


def make_link(
    *,
    url: str,
    filename: str | None,
    hashes: dict[str, str],
    requires_python: Any = None,
    yanked: Any = False,
    core_metadata: Any = None,
    size: Any = None,
    upload_time: Any = None,
    provenance: Any = None,
) -> dict[str, Any] | None:
    """A link as the mirror stores it, or None when it cannot be offered safely (a file name
    that could escape a directory, a URL that is not http(s)). ``url`` is absolute, without
    fragment (see :func:`resolve`)."""
    if not url[:8].lower().startswith(("http://", "https://")):
        return None
    filename = filename or _url_filename(url)
    if _bad_filename(filename):
        return None
    link: dict[str, Any] = {"filename": filename, "url": url, "hashes": hashes}
    if isinstance(requires_python, str) and requires_python.strip():
        link["requires_python"] = requires_python.strip()
    if yanked is True or isinstance(yanked, str):
        link["yanked"] = yanked if isinstance(yanked, str) and yanked else True
    if core_metadata is True:
        link["core_metadata"] = True
    elif isinstance(core_metadata, dict) and core_metadata:
        link["core_metadata"] = _hashes(core_metadata) or True
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        link["size"] = size
    if isinstance(upload_time, str) and upload_time:
        link["upload_time"] = upload_time
    if isinstance(provenance, str) and provenance[:8].lower().startswith(("http://", "https://")):
        # PEP 740: upstream's provenance is passed on as upstream's URL (absolute).
        link["provenance"] = provenance
    return link


def parse_page(
    body: bytes, content_type: str, page_url: str
) -> tuple[str | None, list[dict[str, Any]]]:
    """(upstream's name of the project, its links) from a PEP 691 JSON or PEP 503 HTML page."""
    if is_json(content_type, body):
        return _parse_json_page(body, page_url)
    return None, _parse_html_page(body, page_url)


def _parse_json_page(body: bytes, page_url: str) -> tuple[str | None, list[dict[str, Any]]]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise UpstreamContentError(f"upstream {safe_url(page_url)} sent invalid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise UpstreamContentError(f"upstream {safe_url(page_url)} sent no PEP 691 project page")
    links = []
    for entry in doc["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        core = entry.get("core-metadata", entry.get("dist-info-metadata"))
        link = make_link(
            url=resolve(page_url, entry["url"])[0],
            filename=entry.get("filename") if isinstance(entry.get("filename"), str) else None,
            hashes=_hashes(entry.get("hashes")),
            requires_python=entry.get("requires-python"),
            yanked=entry.get("yanked", False),
            core_metadata=core,
            size=entry.get("size"),
            upload_time=entry.get("upload-time"),
            provenance=_absolute(page_url, entry.get("provenance")),
        )
        if link is not None:
            links.append(link)
    name = doc.get("name") if isinstance(doc.get("name"), str) else None
    return name, links


def _absolute(base: str, url: Any) -> str | None:
    return resolve(base, url)[0] if isinstance(url, str) and url else None


def _metadata_attr(value: str | None) -> Any:
    if value is None:
        return None
    if value.strip().lower() == "true":
        return True
    name, sep, digest = value.partition("=")
    if sep and _HEX.match(digest):
        return {name.strip().lower(): digest.lower()}
    return None


def _parse_html_page(body: bytes, page_url: str) -> list[dict[str, Any]]:
    base_href, anchors = page_anchors(body)
    base = urljoin(page_url, base_href) if base_href else page_url
    links = []
    for attrs in anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = resolve(base, href)
        algorithm, sep, digest = fragment.partition("=")
        hashes = {algorithm.lower(): digest.lower()} if sep and _HEX.match(digest) else {}
        yanked: Any = False
        if "data-yanked" in attrs:
            yanked = attrs["data-yanked"] or True
        core = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        link = make_link(
            url=url,
            filename=None,
            hashes=hashes,
            requires_python=attrs.get("data-requires-python"),
            yanked=yanked,
            core_metadata=_metadata_attr(core),
            provenance=_absolute(base, attrs.get("data-provenance")),
        )
        if link is not None:
            links.append(link)
    return links
