"""The servers bench/mirror.py compares, each a caching mirror of the index pip uses here:
pyshelf's root/pypi, devpi-server's root/pypi and proxpi, all with ``root/dev`` (or proxpi's
``/index/``) as the index pip is pointed at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from servers import (  # noqa: E402
    DEVPI_VENV,
    REPO,
    ROOT_PASSWORD,
    Devpi,
    Pyshelf,
    Server,
    installed_version,
)
from workload import login  # noqa: E402

from pyshelf_server.mirror.pipconfig import pip_index_url  # noqa: E402

PAGE_PROJECT = "requests"
PROXPI_VENV = REPO / ".venv-proxpi"
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pip_env() -> dict[str, str]:
    """The caller's environment without any PIP_* setting (this machine's find-links and extra
    indexes would answer instead of the server), and no pip configuration file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    if os.environ.get("PIP_CERT"):
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


def upstream_url() -> str:
    """The index pip uses here (without this machine's PIP_* settings), ending in a slash."""
    return pip_index_url(pip_env()).rstrip("/") + "/"


def full_listing(url: str, timeout: float) -> dict:
    """GET the whole project list, streamed and thrown away; bytes and seconds."""
    started = time.monotonic()
    size = 0
    with httpx.stream("GET", url, timeout=timeout, headers={"Accept": "text/html"}) as response:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"listing of {url} took over {timeout} s")
        status = response.status_code
    return {"status": status, "bytes": size, "seconds": time.monotonic() - started}


def create_dev_on_mirror(url: str, headers: dict[str, str]) -> None:
    """``root/dev`` with ``bases=root/pypi``: the index pip is pointed at."""
    response = httpx.put(
        url + "/root/dev",
        content=json.dumps({"bases": ["root/pypi"]}),
        headers=headers,
        timeout=60,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"PUT root/dev: {response.status_code} {response.text[:300]}")


class PyshelfMirror(Pyshelf):
    """pyshelf as the README says to deploy it: told the URL its clients use
    (``--outside-url``), so its simple pages link files absolutely. ``relative_links`` runs it
    without, on relative links (the default when the outside URL is unknown)."""

    simple_base = "/root/dev/+simple/"
    page_path = f"/root/pypi/+simple/{PAGE_PROJECT}/"
    relative_links = False

    def server_command(self) -> list[str]:
        command = super().server_command()
        return command if self.relative_links else [*command, "--outside-url", self.url]

    def init_command(self) -> list[str]:
        # The same upstream as the other servers and the direct baseline.
        return [*super().init_command(), "--mirror-url", upstream_url()]

    def settle(self, args, out: dict) -> None:
        """Let the background work of the downloads end before the page is measured: the
        project list, fetched once the mirror is quiet, is fetched now by a first listing
        (which waits for it) instead of during the page's load windows."""
        out["listing_first"] = full_listing(self.url + "/root/pypi/+simple/", args.listing_timeout)
        log(f"pyshelf first full listing: {out['listing_first']}")

    def prepare(self) -> None:
        create_dev_on_mirror(self.url, {**JSON_HEADERS, **login(self.url, "root", ROOT_PASSWORD)})


class DevpiMirror(Devpi):
    """devpi-server with its root/pypi mirror, pointed at pip's index, cache expiry of a day."""

    def settle(self, args, out: dict) -> None:
        pass  # its first page already waited for the whole project list

    simple_base = "/root/dev/+simple/"
    page_path = f"/root/pypi/+simple/{PAGE_PROJECT}/"

    def init_command(self) -> list[str]:
        return [
            str(DEVPI_VENV / "bin" / "devpi-init"),
            "--serverdir",
            str(self.serverdir),
            "--root-passwd",
            ROOT_PASSWORD,
        ]

    def server_command(self) -> list[str]:
        return [*super().server_command(), "--mirror-cache-expiry", "86400"]

    def prepare(self) -> None:
        token = login(self.url, "root", ROOT_PASSWORD)
        headers = {**JSON_HEADERS, **token}
        patched = httpx.patch(
            self.url + "/root/pypi",
            content=json.dumps([f"mirror_url={upstream_url()}"]),
            headers=headers,
            timeout=60,
        )
        if patched.status_code != 200:
            raise RuntimeError(f"PATCH root/pypi: {patched.status_code} {patched.text[:300]}")
        create_dev_on_mirror(self.url, headers)


class Proxpi(Server):
    """proxpi under gunicorn (its Docker image's way), threads not processes as its docs ask.

    ``PROXPI_INDEX_URL`` must end in a slash: proxpi finds a project's page with
    ``urljoin(index_url, name)``, which without it replaces the index's last path segment
    (``…/simple`` + ``six`` gives ``…/six``, a 404); proxpi then falls back to its full
    project list and answered pages without files.
    """

    name = "proxpi"
    ready_path = "/"
    simple_base = "/index/"
    page_path = f"/index/{PAGE_PROJECT}/"

    def init_command(self) -> list[str]:
        return ["true"]

    def init(self) -> float:
        if self.serverdir.exists():
            shutil.rmtree(self.serverdir)
        self.serverdir.mkdir(parents=True)
        return 0.0

    def server_command(self) -> list[str]:
        return [
            str(PROXPI_VENV / "bin" / "gunicorn"),
            "--threads",
            str(self.threads or 16),
            "--bind",
            f"127.0.0.1:{self.port}",
            "proxpi.server:app",
        ]

    def start(self, timeout: float = 120) -> float:
        os.environ.update(
            PROXPI_INDEX_URL=upstream_url(),
            PROXPI_CACHE_DIR=str(self.serverdir),
            PROXPI_INDEX_TTL="86400",
        )
        try:
            return super().start(timeout)
        finally:
            for key in ("PROXPI_INDEX_URL", "PROXPI_CACHE_DIR", "PROXPI_INDEX_TTL"):
                os.environ.pop(key, None)

    def prepare(self) -> None:
        pass

    def settle(self, args, out: dict) -> None:
        pass  # fetches no project list unless a page is missing upstream

    def version(self) -> str:
        return installed_version(PROXPI_VENV / "bin" / "python", "proxpi")


def ensure_proxpi(timeout: float) -> bool:
    if (PROXPI_VENV / "bin" / "gunicorn").exists():
        return True
    try:
        if not (PROXPI_VENV / "bin" / "python").exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(PROXPI_VENV)], check=True, timeout=300
            )
        subprocess.run(
            [str(PROXPI_VENV / "bin" / "pip"), "install", "-q", "proxpi", "gunicorn"],
            check=True,
            timeout=timeout,
            capture_output=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"proxpi did not install, skipped: {exc}")
        return False
    return (PROXPI_VENV / "bin" / "gunicorn").exists()
