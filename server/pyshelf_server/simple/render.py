"""Rendering simple pages: PEP 503 HTML and PEP 691 JSON (api-version 1.1, with PEP 700)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from html import escape

from ..indexes.backends import Link

API_VERSION = "1.1"
HTML_TYPE = "text/html"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_V1_TYPE = "application/vnd.pypi.simple.v1+html"


def _upload_time(link: Link) -> str | None:
    uploaded = link.upload_time
    if uploaded is None:
        return None
    if uploaded.tzinfo is not None:
        uploaded = uploaded.astimezone(UTC).replace(tzinfo=None)
    # isoformat is several times cheaper than strftime, which a 3,000-file page calls 3,000 times.
    return uploaded.isoformat(timespec="microseconds") + "Z"


def project_html(name: str, links: list[Link], url_prefix: str) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>Links for {escape(name)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {escape(name)}</h1>",
    ]
    for link in links:
        href = url_prefix + link.path
        fragment = link.hash_fragment
        attrs = [f'href="{escape(href)}{"#" + fragment if fragment else ""}"']
        if link.requires_python is not None and link.requires_python != "":
            attrs.append(f'data-requires-python="{escape(link.requires_python)}"')
        if link.yanked is not False:
            reason = "" if link.yanked is True else str(link.yanked)
            attrs.append(f'data-yanked="{escape(reason)}"')
        if link.core_metadata:
            spec = (
                "sha256=" + link.core_metadata["sha256"]
                if "sha256" in link.core_metadata
                else "true"
            )
            attrs.append(f'data-dist-info-metadata="{escape(spec)}"')
            attrs.append(f'data-core-metadata="{escape(spec)}"')
        lines.append(f"    <a {' '.join(attrs)}>{escape(link.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def project_json(name: str, links: list[Link], url_prefix: str) -> bytes:
    files = []
    # PEP 700: the versions are a set and their order is not significant. They are listed in
    # the order of the files (upload order); sorting by PEP 440 meant parsing every version
    # and took longer than all the rest of a 3,000-version page.
    versions: dict[str, None] = {}
    for link in links:
        entry: dict[str, object] = {
            "filename": link.filename,
            "url": url_prefix + link.path,
            # Shared, not copied: json.dumps only reads them.
            "hashes": link.hashes,
        }
        if link.requires_python:
            entry["requires-python"] = link.requires_python
        if link.yanked is not False:
            entry["yanked"] = link.yanked
        if link.core_metadata:
            entry["core-metadata"] = entry["dist-info-metadata"] = link.core_metadata
        if link.size is not None:
            entry["size"] = link.size
        upload_time = _upload_time(link)
        if upload_time:
            entry["upload-time"] = upload_time
        files.append(entry)
        if link.version:
            versions[link.version] = None
    page = {
        "meta": {"api-version": API_VERSION},
        "name": name,
        "versions": list(versions),
        "files": files,
    }
    return json.dumps(page, separators=(",", ":")).encode("utf-8")


def _batches(names: Iterable[str], size: int = 5000) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# A mirror's list holds about a million names: the per-name work below is kept to C-level
# string operations on whole batches (escaping, joining), not a Python call per name.


def project_list_html(names: Iterable[str]) -> Iterator[bytes]:
    yield (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
    ).encode()
    line = '    <a href="%s/">%s</a><br>\n'
    for batch in _batches(names):
        # Escaping the joined batch once escapes every name ("\n" is left alone).
        quoted = escape("\n".join(batch)).split("\n")
        yield "".join([line % (q, q) for q in quoted]).encode("utf-8")
    yield b"  </body>\n</html>\n"


def project_list_json(names: Iterable[str]) -> Iterator[bytes]:
    yield b'{"meta":{"api-version":"' + API_VERSION.encode() + b'"},"projects":['
    separator = ""
    for batch in _batches(names):
        # json.dumps of the batch gives '"a","b"'; inside a JSON string every quote is
        # escaped, so '","' occurs only between names and can be widened into objects.
        dumped = json.dumps(batch, separators=(",", ":"))[1:-1]
        objects = '{"name":' + dumped.replace('","', '"},{"name":"') + "}"
        yield (separator + objects).encode("utf-8")
        separator = ","
    yield b"]}"
