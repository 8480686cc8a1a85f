"""The data both servers get: users, indexes and distributions, identical byte for byte.

Why: a ratio is only fair when both servers store the same files and answer the same pages.
The files come from ``pyshelf_server.testing.make_wheel`` / ``make_sdist`` (deterministic
small wheels and sdists built in memory), and the multipart bodies are built once, by hand,
the way twine builds them (fields, digests, then ``content``), so the client does next to no
work while the clock runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass

import httpx
from servers import ROOT_PASSWORD

USER = "bench"
PASSWORD = "bench-user-password"
HOSTED = f"{USER}/dev"  # 200 projects x 10 versions
UPLOADS = f"{USER}/uploads"  # the upload scenarios write here
BIG = f"{USER}/big"  # one project with 3,000 versions
CHILD = f"{USER}/child"  # inherits BIG
BIG_PROJECT = "bench-bigproject"


def project_name(i: int) -> str:
    return f"bench-proj-{i:04d}"


def make_files(name: str, version: str, *, sdist: bool = True) -> list[tuple[str, bytes]]:
    from pyshelf_server.testing import make_sdist, make_wheel

    files = [make_wheel(name, version)]
    if sdist:
        files.append(make_sdist(name, version))
    return files


def multipart(name: str, version: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A legacy-upload body as twine sends it; returns (body, content type)."""
    boundary = "bench" + uuid.uuid4().hex
    fields = [
        ("name", name),
        ("version", version),
        ("metadata_version", "2.1"),
        ("pyversion", "source" if filename.endswith(".tar.gz") else "py3"),
        ("filetype", "sdist" if filename.endswith(".tar.gz") else "bdist_wheel"),
        ("sha256_digest", hashlib.sha256(content).hexdigest()),
        (":action", "file_upload"),
        ("protocol_version", "1"),
    ]
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def bodies_for(
    projects: list[str], versions: list[str], *, sdist: bool = True
) -> list[tuple[bytes, str]]:
    """Upload bodies for every (project, version), version-major so that concurrent workers
    mostly write to different projects, like independent CI jobs would."""
    out = []
    for version in versions:
        for project in projects:
            for filename, content in make_files(project, version, sdist=sdist):
                out.append(multipart(project, version, filename, content))
    return out


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Credentials:
    token_headers: dict[str, str]
    basic_headers: dict[str, str]
    # HTTP Basic ``__token__:<API token>`` as twine, uv and poetry send it; None when the
    # server makes no API tokens (devpi-server without devpi-tokens).
    api_token_headers: dict[str, str] | None = None


def _check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> "
            f"{response.status_code} {response.text[:300]}"
        )
    return response


def login(url: str, user: str, password: str) -> dict[str, str]:
    response = _check(
        httpx.post(
            url + "/+login",
            json={"user": user, "password": password},
            headers={"Accept": "application/json"},
            timeout=60,
        ),
        200,
    )
    token = response.json()["result"]["password"]
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{token}".encode()).decode()}


def setup(url: str) -> Credentials:
    """The user (created by root: pyshelf lets only root create users) and its indexes."""
    json_headers = {"Accept": "application/json", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=60, headers=json_headers) as client:
        _check(
            client.put(
                f"/{USER}",
                content=json.dumps({"password": PASSWORD}),
                headers=basic("root", ROOT_PASSWORD),
            ),
            201,
        )
        token = login(url, USER, PASSWORD)
        for index, options in ((HOSTED, {}), (UPLOADS, {}), (BIG, {}), (CHILD, {"bases": BIG})):
            _check(client.put(f"/{index}", content=json.dumps(options), headers=token), 200, 201)
        created = client.post(f"/{USER}/+token-create", content=b"{}", headers=token)
    api_token = None
    if created.is_success:
        api_token = basic("__token__", created.json()["result"]["token"])
    return Credentials(token, basic(USER, PASSWORD), api_token)
