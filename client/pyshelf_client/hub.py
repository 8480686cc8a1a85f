"""The hub every subcommand receives: client state, the HTTP session and output helpers.

Commands never build requests by hand: ``Hub.request`` adds the JSON headers and the stored
login, turns transport failures into ``ConnectionFailed`` and error statuses into
``ServerError`` with the server's own message, so every command fails the same way.
"""

from __future__ import annotations

import base64
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urljoin, urlsplit

import httpx

from . import __version__
from .config import ClientDir, Current, Login
from .errors import ConnectionFailed, ServerError, UsageError

API_VERSION = "2"
USER_AGENT = f"pyshelf-client/{__version__} (py{platform.python_version()}; {sys.platform})"
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass
class Reply:
    """A server answer, with the JSON envelope already taken apart."""

    status: int
    reason: str
    url: str
    headers: httpx.Headers
    text: str
    data: Any = None
    is_json: bool = False

    @property
    def type(self) -> str | None:
        return self.data.get("type") if isinstance(self.data, dict) else None

    @property
    def result(self) -> Any:
        return self.data.get("result") if isinstance(self.data, dict) else None

    @property
    def message(self) -> str:
        """The server's explanation: the JSON ``message``, else the reason phrase.

        devpi puts upload errors into the reason phrase rather than the body, and the
        framework's own errors into a JSON body with ``message``; both end up here.
        """
        if isinstance(self.data, dict) and self.data.get("message"):
            return " ".join(str(self.data["message"]).split())
        default = httpx.codes.get_reason_phrase(self.status)
        if self.reason and self.reason != default:
            return self.reason
        if self.text and not self.text.lstrip().startswith("<") and len(self.text) < 300:
            return " ".join(self.text.split())
        return default


@dataclass
class IndexRef:
    """The URLs of one index, as ``+api`` would report them."""

    url: str
    name: str
    simpleindex: str = ""
    pypisubmit: str = ""
    features: list[str] = field(default_factory=list)


class Hub:
    def __init__(
        self,
        *,
        args: Any,
        clientdir: ClientDir,
        pluginmanager: Any = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.args = args
        self.clientdir = clientdir
        self.pm = pluginmanager
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.current: Current = clientdir.load_current()
        self._transport = transport
        self._http: httpx.Client | None = None
        self._warned_expired: set[str] = set()

    # -- output ---------------------------------------------------------------------

    @property
    def debug_enabled(self) -> bool:
        return bool(getattr(self.args, "debug", False))

    @property
    def assume_yes(self) -> bool:
        return bool(getattr(self.args, "yes", False))

    def line(self, message: str = "") -> None:
        print(message, file=self.stdout, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=self.stderr, flush=True)

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            print(f"debug: {message}", file=self.stderr, flush=True)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question; ``-y`` answers yes, end of input answers no, and no input
        at all without a terminal (a script) is a usage error that names ``-y``."""
        if self.assume_yes:
            return True
        print(f"{question} [yes/no]: ", end="", file=self.stderr, flush=True)
        try:
            answer = sys.stdin.readline()
        except (OSError, ValueError):
            answer = ""
        if not answer and not sys.stdin.isatty():
            print(file=self.stderr)
            raise UsageError(
                f"{question} needs an answer and there is no terminal to ask on: "
                "pass -y (--yes) to confirm"
            )
        return answer.strip().lower() in ("y", "yes")

    def ask_password(self, *, url: str, username: str) -> str:
        if self.pm is None:
            from .login import prompt_password

            return prompt_password(url=url, username=username)
        return self.pm.hook.pyshelf_client_get_password(url=url, username=username)

    # -- state ------------------------------------------------------------------------

    @property
    def root(self) -> str:
        if not self.current.root:
            raise UsageError("no server in use: run 'pyshelf use URL' first")
        return self.current.root

    def save_current(self) -> None:
        self.clientdir.save_current(self.current)

    def login_for(self, root: str | None = None, *, warn: bool = True) -> Login | None:
        """The stored login for a server root, or None when absent or expired."""
        root = root or self.current.root
        if not root:
            return None
        login = self.clientdir.get_login(root)
        if login is not None and login.expired():
            if warn and root not in self._warned_expired:
                self._warned_expired.add(root)
                self.warn(
                    f"the login of {login.user!r} at {root} has expired: "
                    f"run 'pyshelf login {login.user}' again"
                )
            return None
        return login

    @property
    def username(self) -> str:
        login = self.login_for(warn=False)
        return login.user if login else ""

    def require_user(self) -> str:
        user = self.username
        if not user:
            raise UsageError("not logged in: run 'pyshelf login USER' first")
        return user

    def index_ref(self, spec: str | None = None) -> IndexRef:
        """Resolve ``--index`` (URL, ``user/index`` or ``index``) or the current index."""
        if spec:
            if "://" in spec:
                url = spec.rstrip("/")
                root = self.current.root or url.rsplit("/", 2)[0] + "/"
                name = url[len(root) :].strip("/") if url.startswith(root) else url
                return IndexRef(
                    url=url,
                    name=name,
                    simpleindex=url + "/+simple/",
                    pypisubmit=url + "/",
                    features=list(self.current.features),
                )
            name = spec.strip("/")
            if "/" not in name:
                user = self.require_user()
                name = f"{user}/{name}"
            if name.count("/") != 1:
                raise UsageError(f"invalid index name {spec!r}: expected user/index")
            url = urljoin(self.root, name)
            return IndexRef(
                url=url,
                name=name,
                simpleindex=url + "/+simple/",
                pypisubmit=url + "/",
                features=list(self.current.features),
            )
        if not self.current.index:
            raise UsageError("no index in use: run 'pyshelf use USER/INDEX' or pass --index")
        return IndexRef(
            url=self.current.index,
            name=self.current.index_name,
            simpleindex=self.current.simpleindex,
            pypisubmit=self.current.pypisubmit,
            features=list(self.current.features),
        )

    def url_for(self, path: str) -> str:
        """A path relative to the server root (``user/index``) as a URL."""
        return urljoin(self.root, path.lstrip("/"))

    # -- HTTP -----------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            hooks = {"request": [self._log_request], "response": [self._log_response]}
            self._http = httpx.Client(
                follow_redirects=True,
                timeout=httpx.Timeout(120.0, connect=15.0),
                headers={"User-Agent": USER_AGENT},
                event_hooks=hooks if self.debug_enabled else {},
                transport=self._transport,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _log_request(self, request: httpx.Request) -> None:
        request.extensions["pyshelf_start"] = time.monotonic()
        self.debug(f"> {request.method} {request.url}")

    def _log_response(self, response: httpx.Response) -> None:
        start = response.request.extensions.get("pyshelf_start", time.monotonic())
        elapsed = time.monotonic() - start
        self.debug(
            f"< {response.status_code} {response.reason_phrase} "
            f"{response.request.method} {response.request.url} ({elapsed:.3f}s)"
        )

    def auth_headers(self, url: str) -> dict[str, str]:
        root = self.current.root
        if not root or not url.startswith(root):
            return {}
        login = self.login_for(root)
        if login is None:
            return {}
        value = base64.b64encode(f"{login.user}:{login.token}".encode()).decode("ascii")
        return {"X-Devpi-Auth": value}

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        params: dict[str, str] | None = None,
        accept_json: bool = True,
        auth: bool = True,
        ok: Iterable[int] | None = (200, 201),
        headers: dict[str, str] | None = None,
        what: str = "",
        timeout: float | None = None,
    ) -> Reply:
        """Send a request and return the reply; raise ``ServerError`` unless status in *ok*.

        Pass ``ok=None`` to get every reply back and judge the status yourself.
        """
        all_headers: dict[str, str] = {}
        if accept_json:
            all_headers.update(JSON_HEADERS)
            if files is not None or data is not None:
                del all_headers["Content-Type"]
        else:
            all_headers["Accept"] = "*/*"
        if auth:
            all_headers.update(self.auth_headers(url))
        all_headers.update(headers or {})
        try:
            response = self.http.request(
                method,
                url,
                json=json,
                data=data,
                files=files,
                params=params,
                headers=all_headers,
                # Seconds to wait for the answer; None: the client's default.
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise UsageError(f"invalid URL {url!r}: {exc}") from None
        except httpx.ConnectError as exc:
            raise ConnectionFailed(f"cannot connect to {url}: {_reason(exc)}") from None
        except httpx.TimeoutException:
            raise ConnectionFailed(f"timed out waiting for {url}") from None
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"request to {url} failed: {_reason(exc)}") from None

        api_version = response.headers.get("X-Devpi-Api-Version")
        if api_version is not None and api_version != API_VERSION:
            raise ConnectionFailed(
                f"the server at {url} speaks API version {api_version}; "
                f"this client needs version {API_VERSION}"
            )
        reply = _make_reply(response)
        if ok is not None and reply.status not in set(ok):
            raise ServerError(
                self.describe_error(reply, what=what or f"{method} {url}"),
                status=reply.status,
                server_message=reply.message,
            )
        return reply

    def get_json(self, url: str, **kwargs: Any) -> Reply:
        reply = self.request("GET", url, **kwargs)
        if not reply.is_json:
            raise ConnectionFailed(
                f"{url} did not answer with JSON: is this a pyshelf or devpi server URL?"
            )
        return reply

    def describe_error(self, reply: Reply, *, what: str) -> str:
        """One line saying what failed, the server's words, and what to do about it."""
        message = reply.message
        text = f"{what}: {reply.status} {message}"
        if reply.status == 401:
            if self.login_for(warn=False) is None:
                text += " (not logged in: run 'pyshelf login USER')"
            else:
                text += " (the login may have expired: run 'pyshelf login' again)"
        elif reply.status == 403 and self.login_for(warn=False) is None:
            text += " (you might have to log in first)"
        elif reply.status == 413:
            text += " (the request is larger than the server accepts)"
        return text

    def fetch_api(self, url: str) -> dict[str, Any]:
        """``GET {url}/+api``, the description of a server root or an index."""
        api_url = url.rstrip("/") + "/+api"
        reply = self.request("GET", api_url, ok=None)
        if reply.status == 404:
            if reply.is_json and reply.message and "could not be found" in reply.message:
                raise ServerError(f"{reply.message}", status=404, server_message=reply.message)
            raise ConnectionFailed(
                f"{url} is not a pyshelf or devpi server (GET {api_url} answered 404)"
            )
        if reply.status >= 400:
            raise ServerError(
                self.describe_error(reply, what=f"GET {api_url}"),
                status=reply.status,
                server_message=reply.message,
            )
        if not reply.is_json or reply.type != "apiconfig" or not isinstance(reply.result, dict):
            raise ConnectionFailed(
                f"{url} is not a pyshelf or devpi server (GET {api_url} gave no apiconfig)"
            )
        return reply.result


def root_from_login_url(login_url: str) -> str:
    """The server root is the directory that holds the ``+login`` URL (as devpi does)."""
    return login_url.rsplit("/", 1)[0] + "/"


def same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _make_reply(response: httpx.Response) -> Reply:
    content_type = response.headers.get("Content-Type", "")
    data = None
    is_json = False
    if content_type.split(";")[0].strip() == "application/json":
        try:
            data = response.json()
            is_json = True
        except ValueError:
            data = None
    return Reply(
        status=response.status_code,
        reason=response.reason_phrase,
        url=str(response.url),
        headers=response.headers,
        text=response.text if not is_json else "",
        data=data,
        is_json=is_json,
    )


def _reason(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text
