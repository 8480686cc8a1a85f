"""Test fixtures shared by the server, the client, the web plugin and the other plugins.

Load them with ``pytest_plugins = ["pyshelf_server.testing"]``. Two kinds of server:

* ``make_app`` / ``testapp``: the WSGI application in-process, driven through WebTest: fast,
  for functional tests of views and services;
* ``live_server`` / ``make_live_server``: the real ``pyshelf-server`` process on a free loopback
  port, for end-to-end tests with pip, uv, twine and the devpi client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT_PASSWORD = "root-test-password"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    from . import security

    security.password_context = CryptContext(
        schemes=["argon2", *security.HTPASSWD_SCHEMES],
        argon2__memory_cost=256,
        argon2__time_cost=1,
        argon2__parallelism=1,
    )


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    name: str,
    *,
    timeout: float,
    poll: float = 0.05,
) -> None:
    """Wait until ``url`` answers 200; raise with the end of the log if the process exits or
    the time runs out (the caller stops the process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(poll)
    raise RuntimeError(f"{name} did not answer: {log_path.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes] | None, *, timeout: float = 15) -> None:
    """Terminate ``process`` and wait for it; kill it if it does not go in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# -- PostgreSQL -------------------------------------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster, made with Debian's ``initdb`` and ``pg_ctl``.

    It listens on a Unix socket in its own directory only (no TCP port to collide with), with
    durability switched off: the tests kill pyshelf processes, never PostgreSQL. ``initdb``
    refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self._numbers = iter(range(1, 1_000_000))

    @staticmethod
    def binaries() -> Path | None:
        """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's versioned directory."""
        import glob
        import shutil

        found = shutil.which("initdb")
        if found:
            return Path(found).parent
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return Path(versions[-1]).parent if versions else None

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        bin_dir = self.binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's initdb was not found (install Debian's postgresql)")
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )
        options = (
            f"-k {self.directory} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=400"
        )
        self._run(
            str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w",
            "-o", options, "start",
        )
        self._bin = bin_dir
        return self

    def stop(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}"

    def create_database(self, template: str | None = None) -> str:
        """A new, empty (or ``template``-cloned) database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._numbers)}"
        clause = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(
            dbname="postgres", user="postgres", host=str(self.directory), autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)


_DATABASE: dict[str, Any] = {"backend": "sqlite", "cluster": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("PYSHELF_TEST_DB", "sqlite"),
        help="the database the servers of the tests run on (PostgreSQL: a throwaway cluster)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite's own behaviour")
    _DATABASE["backend"] = config.getoption("--db")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _DATABASE["backend"] == "sqlite":
        return
    skip = pytest.mark.skip(reason="tests SQLite's own behaviour")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = _DATABASE.get("cluster")
    if cluster is not None:
        cluster.stop()
        _DATABASE["cluster"] = None


def on_postgresql() -> bool:
    return _DATABASE["backend"] == "postgresql"


def postgres_cluster() -> PostgresCluster:
    """The session's cluster, started on first use (``--db=postgresql`` or not)."""
    import tempfile

    cluster = _DATABASE.get("cluster")
    if cluster is None:
        # Unix socket paths are limited to ~107 bytes: keep the directory short.
        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))).start()
        _DATABASE["cluster"] = cluster
    return cluster


def new_database_url() -> str | None:
    """An empty database for one server on ``--db=postgresql``; None on SQLite."""
    if not on_postgresql():
        return None
    return postgres_cluster().create_database()


def default_test_plugins() -> list[str]:
    from .plugins import installed_plugin_names

    return [name for name in installed_plugin_names() if name == "web"]


class S3Server:
    """An S3-compatible server on a free loopback port: moto's, in a thread of the test
    process, started once per test session (``s3_server``). SeaweedFS, which the issue names,
    has no Debian or PyPI package that brings its ``weed`` binary (docs/cluster.md)."""

    REGION = "us-east-1"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._numbers = iter(range(1, 1_000_000))
        self.endpoint = ""

    def start(self) -> S3Server:
        import logging

        # One line per request otherwise, in every failing test's report.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables a pyshelf process reads to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": "pyshelf-test",
            "AWS_SECRET_ACCESS_KEY": "pyshelf-test-secret",
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> Any:
        import boto3

        env = self.env
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"pyshelf-test-{os.getpid()}-{next(self._numbers)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_store(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A new bucket for one test, and this process's AWS variables pointing at it:
    ``{"url": "s3://BUCKET/PREFIX", "bucket", "prefix", "env", "server"}``."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    prefix = "pyshelf/blobs"
    return {
        "url": f"s3://{bucket}/{prefix}",
        "bucket": bucket,
        "prefix": prefix,
        "env": s3_server.env,
        "server": s3_server,
    }


class LiveServer:
    """A real ``pyshelf-server`` process."""

    def __init__(
        self,
        serverdir: Path,
        *,
        root_password: str = ROOT_PASSWORD,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        init_args: list[str] | None = None,
        plugins: list[str] | None = None,
    ) -> None:
        self.serverdir = Path(serverdir)
        # Exactly these installed plugins are loaded (``--plugins``): by default the web
        # plugin when it is installed, never an optional plugin a test is not about.
        self.plugins = default_test_plugins() if plugins is None else list(plugins)
        self.root_password = root_password
        self.args = list(args or [])
        self.env = dict(env or {})
        self.init_args = list(init_args or [])
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.serverdir.parent / f"{self.serverdir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        if not (self.serverdir / ".serverversion").exists():
            if not any(a.startswith("--db-url") for a in self.init_args):
                url = new_database_url()
                if url:
                    self.init_args += ["--db-url", url]
            subprocess.run(
                [
                    str(BIN / "pyshelf-init"),
                    "--serverdir",
                    str(self.serverdir),
                    "--root-passwd",
                    self.root_password,
                    *self.init_args,
                ],
                check=True,
                capture_output=True,
                timeout=120,
                env={**os.environ, **self.env},
            )

    def start(self, timeout: float = 30) -> LiveServer:
        self.init()
        self.port = free_port()
        env = {**os.environ, "PYSHELF_PLUGINS": ",".join(self.plugins), **self.env}
        log = open(self.log_path, "ab")
        self._log = log
        self.process = subprocess.Popen(
            [
                str(BIN / "pyshelf-server"),
                "--serverdir",
                str(self.serverdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_until_answering(
                self.process, self.url + "/+api", self.log_path, "pyshelf-server", timeout=timeout
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    # -- small API driver, for setting up state in tests ---------------------------------

    def login(self, user: str = "root", password: str | None = None) -> str:
        password = self.root_password if password is None and user == "root" else password
        response = httpx.post(
            self.url + "/+login",
            json={"user": user, "password": password},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["result"]["password"]

    def auth_headers(self, user: str = "root", password: str | None = None) -> dict[str, str]:
        token = self.login(user, password)
        value = base64.b64encode(f"{user}:{token}".encode()).decode()
        return {"X-Devpi-Auth": value, "Accept": "application/json"}

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str | None] | None = ("root", None),
        **kw: Any,
    ) -> httpx.Response:
        headers = {"Accept": "application/json", **kw.pop("headers", {})}
        if auth is not None:
            user, password = auth
            password = self.root_password if password is None and user == "root" else password
            headers.update(basic_auth(user, password or ""))
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def create_user(self, name: str, password: str, **fields: Any) -> None:
        response = self.request("PUT", f"/{name}", json={"password": password, **fields})
        assert response.status_code == 201, response.text

    def create_index(
        self, fullname: str, auth: tuple[str, str | None] = ("root", None), **options: Any
    ) -> dict[str, Any]:
        response = self.request("PUT", f"/{fullname}", json=options, auth=auth)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def upload(
        self,
        fullname: str,
        path: Path,
        *,
        name: str,
        version: str,
        auth: tuple[str, str | None] = ("root", None),
        **fields: str,
    ) -> httpx.Response:
        with open(path, "rb") as content:
            return self.request(
                "POST",
                f"/{fullname}/",
                auth=auth,
                data={":action": "file_upload", "name": name, "version": version, **fields},
                files={"content": (path.name, content)},
                headers={"Accept": "*/*"},
            )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the whole session; tests must use their own index names."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "server").start()
    yield server
    server.stop()


@pytest.fixture
def make_live_server(tmp_path: Path) -> Iterator[Any]:
    """A factory of fresh real servers, stopped after the test."""
    servers: list[LiveServer] = []

    def make(name: str = "server", **kw: Any) -> LiveServer:
        server = LiveServer(tmp_path / name, **kw).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# -- in-process application -----------------------------------------------------------------


_TEMPLATE: dict[str, Path] = {}


def make_settings(serverdir: Path, **overrides: Any) -> Any:
    """Settings for a server directory at ``serverdir``, initialised if new.

    Running the migrations takes a good part of a second; tests get a copy of one server
    directory initialised once per test process instead.
    """
    import shutil
    import tempfile

    from .serverdir import initialise, is_initialised
    from .settings import ServerSettings

    settings = ServerSettings(serverdir=serverdir, **overrides)
    if is_initialised(settings):
        return settings
    if settings.db_url:
        initialise(settings, root_password=ROOT_PASSWORD)
        return settings
    backend = _DATABASE["backend"]
    template = _TEMPLATE.get(backend)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="pyshelf-template-")) / "server"
        if backend == "postgresql":
            # The template database must have no connection open when it is cloned:
            # ``initialise`` disposes of its engine.
            template_url = postgres_cluster().create_database()
            initialise(
                ServerSettings(serverdir=template, db_url=template_url),
                root_password=ROOT_PASSWORD,
            )
            from sqlalchemy.engine import make_url

            _TEMPLATE["postgresql-db"] = make_url(template_url).database
        else:
            initialise(ServerSettings(serverdir=template), root_password=ROOT_PASSWORD)
        _TEMPLATE[backend] = template
    shutil.copytree(template, settings.serverdir)
    if backend == "postgresql":
        url = postgres_cluster().create_database(template=_TEMPLATE["postgresql-db"])
        settings.db_url_file.unlink()
        settings.db_url_file.write_text(url + "\n")
        settings.db_url_file.chmod(0o600)
    return settings


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    """Build the WSGI app on a fresh server directory: ``make_app(plugins=[…], **settings)``."""
    cheap_password_hashing()
    engines = []

    def make(*, plugins: list[Any] = (), load_entry_points: bool = False, **overrides: Any) -> Any:
        from .config import make_app as build
        from .db import make_engine
        from .plugins import make_plugin_manager

        settings = make_settings(tmp_path / "app-serverdir", **overrides)
        engine = make_engine(settings.database_url)
        engines.append(engine)
        pm = make_plugin_manager(load_entry_points=load_entry_points, extra=list(plugins))
        return build(settings, pm=pm, engine=engine)

    yield make
    for engine in engines:
        engine.dispose()


class Shelf:
    """A driver for functional tests: verbs that read like the devpi workflow."""

    def __init__(self, app: Any) -> None:
        import webtest

        self.app = app
        self.test = webtest.TestApp(app)

    def auth(self, user: str, password: str | None = None) -> dict[str, str]:
        return basic_auth(
            user, ROOT_PASSWORD if password is None and user == "root" else password or ""
        )

    def json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        password: str | None = None,
        status: Any = None,
        **kw: Any,
    ) -> Any:
        headers = {"Accept": "application/json", **kw.pop("headers", {})}
        if user is not None:
            headers.update(self.auth(user, password))
        params = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = self.test.request(
            path,
            method=method,
            body=params,
            headers=headers,
            status=status,
            expect_errors=status is not None,
            **kw,
        )
        return checked_status(answer, status)

    def create_user(self, name: str, password: str = "secret", **fields: Any) -> Any:
        return self.json(
            "PUT", f"/{name}", {"password": password, **fields}, user="root", status=201
        )

    def create_index(
        self, fullname: str, *, user: str = "root", password: str | None = None, **options: Any
    ) -> Any:
        return self.json("PUT", f"/{fullname}", options, user=user, password=password, status=200)

    def upload(
        self,
        fullname: str,
        filename: str,
        content: bytes,
        *,
        name: str,
        version: str,
        user: str = "root",
        password: str | None = None,
        status: Any = 200,
        **fields: str,
    ) -> Any:
        form = [(":action", "file_upload"), ("name", name), ("version", version), *fields.items()]
        answer = self.test.post(
            f"/{fullname}/",
            form,
            upload_files=[("content", filename, content)],
            headers=self.auth(user, password),
            status=status,
            expect_errors=True,
        )
        return checked_status(answer, status)


def checked_status(answer: Any, status: Any) -> Any:
    """``answer`` when its status is ``status`` (an int, a list of them, or ``"*"``/None for
    any). webtest checks no status at all once errors are expected."""
    if status is None or status == "*":
        return answer
    wanted = list(status) if isinstance(status, list | tuple) else [status]
    assert answer.status_int in wanted or answer.status in wanted, (
        f"{answer.request.method} {answer.request.path_qs}: {answer.status}, not {status}\n"
        f"{answer.text[:500]}"
    )
    return answer


@pytest.fixture
def shelf(make_app: Any) -> Shelf:
    return Shelf(make_app())


# -- distributions built in memory ----------------------------------------------------------


def _metadata(
    name: str,
    version: str,
    *,
    summary: str = "",
    requires_python: str | None = None,
    description: str = "",
    requires_dist: list[str] = (),
    extra: dict[str, str] | None = None,
    description_content_type: str = "text/markdown",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    for requirement in requires_dist:
        lines.append(f"Requires-Dist: {requirement}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {value}")
    lines.append(f"Description-Content-Type: {description_content_type}")
    return "\n".join(lines) + "\n\n" + description + "\n"


def make_wheel(name: str, version: str, **meta: Any) -> tuple[str, bytes]:
    """A small but valid pure-Python wheel: (filename, bytes)."""
    import io
    import zipfile

    from packaging.utils import canonicalize_name

    dist = canonicalize_name(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": _metadata(name, version, **meta),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: pyshelf-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


def make_sdist(name: str, version: str, **meta: Any) -> tuple[str, bytes]:
    """A small sdist with PKG-INFO: (filename, bytes)."""
    import io
    import tarfile

    from packaging.utils import canonicalize_name

    dist = canonicalize_name(name).replace("-", "_")
    base = f"{dist}-{version}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in {
            f"{base}/PKG-INFO": _metadata(name, version, **meta),
            f"{base}/setup.py": "from setuptools import setup\nsetup()\n",
        }.items():
            data = text.encode()
            member = tarfile.TarInfo(path)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return f"{base}.tar.gz", buffer.getvalue()


def make_attestation(
    filename: str,
    content: bytes,
    *,
    predicate_type: str = "https://docs.pypi.org/attestations/publish/v1",
) -> dict[str, Any]:
    """A PEP 740 attestation object of the right shape about ``filename`` with ``content``;
    its certificate and signature are placeholders (no Sigstore is reachable in tests)."""
    import hashlib

    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": filename, "digest": {"sha256": hashlib.sha256(content).hexdigest()}}],
        "predicateType": predicate_type,
        "predicate": None,
    }
    return {
        "version": 1,
        "verification_material": {
            "certificate": base64.b64encode(b"test certificate").decode(),
            "transparency_entries": [{"logIndex": "1"}],
        },
        "envelope": {
            "statement": base64.b64encode(json.dumps(statement).encode()).decode(),
            "signature": base64.b64encode(b"test signature").decode(),
        },
    }
