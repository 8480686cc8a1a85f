"""Rendering simple pages: PEP 503 HTML and PEP 691 JSON (api-version 1.3: PEP 700 sizes,
versions and upload times, PEP 708 tracks and alternate locations, PEP 740 provenance)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from html import escape
from json.encoder import encode_basestring_ascii as _json_string

from ..indexes.backends import Link

API_VERSION = "1.3"
HTML_TYPE = "text/html"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_V1_TYPE = "application/vnd.pypi.simple.v1+html"
# What a project page at /user/index/+simple/project/ prefixes its file paths with, unless the
# server knows its outside URL.
RELATIVE_PREFIX = "../../../../"


def _upload_time(link: Link) -> str | None:
    uploaded = link.upload_time
    if uploaded is None:
        return None
    if uploaded.tzinfo is not None:
        uploaded = uploaded.astimezone(UTC).replace(tzinfo=None)
    # isoformat is several times cheaper than strftime, which a 3,000-file page calls 3,000 times.
    return uploaded.isoformat(timespec="microseconds") + "Z"


# A link's entry on a project page is rendered in two parts: the URL prefix, which depends on
# the page (relative or the server's outside URL), and the tail, which depends only on the
# file. Hosted files store their tails when they are uploaded (``files.simple_html`` and
# ``files.simple_json``), so that a page of thousands of files is built by joining strings.


def installer_path(path: str) -> str:
    """The path a simple page links for a file at ``path`` (devpi's ``u/i/+f/…`` or
    ``u/i/+e/…``): the same file under ``~f`` or ``~e``.

    pip quotes every link's URL again, and a "+" anywhere in the path sends urllib's quote()
    down its character-by-character path: with "+f", pip took ~330 ms of CPU for the 4,300
    links a warm download of 15 mirrored packages reads; with "~f", ~220 ms. ("~" is one of
    the characters quote() leaves alone; user and index names never start with "+", so only
    the marker segment can match.)
    """
    return path.replace("/+f/", "/~f/", 1).replace("/+e/", "/~e/", 1)


def provenance_url(link: Link, url_prefix: str | None) -> str | None:
    """The URL a page gives for the file's provenance: upstream's as it is, a hosted file's
    with the page's URL prefix; None when there is none (or, for a stored entry, which has no
    prefix, when it needs one)."""
    if link.provenance is None:
        return None
    if link.provenance.startswith(("http://", "https://")):
        return link.provenance
    return None if url_prefix is None else url_prefix + link.provenance


def html_tail(link: Link, url_prefix: str | None = None) -> str:
    """The end of the file's anchor line after ``<a href="`` and the escaped URL prefix
    (``url_prefix`` is only needed for a hosted file's provenance)."""
    fragment = link.hash_fragment
    parts = [escape(installer_path(link.path)), "#" + fragment if fragment else "", '"']
    if link.requires_python is not None and link.requires_python != "":
        parts.append(f' data-requires-python="{escape(link.requires_python)}"')
    if link.yanked is not False:
        reason = "" if link.yanked is True else str(link.yanked)
        parts.append(f' data-yanked="{escape(reason)}"')
    if link.core_metadata:
        spec = (
            "sha256=" + link.core_metadata["sha256"] if "sha256" in link.core_metadata else "true"
        )
        parts.append(f' data-dist-info-metadata="{escape(spec)}"')
        parts.append(f' data-core-metadata="{escape(spec)}"')
    provenance = provenance_url(link, url_prefix)
    if provenance:
        parts.append(f' data-provenance="{escape(provenance)}"')
    parts.append(f">{escape(link.filename)}</a><br>")
    return "".join(parts)


def json_tail(link: Link, url_prefix: str | None = None) -> str:
    """The end of the file's JSON object after ``{"url":"`` and the JSON-escaped URL prefix.

    Written out by hand: a ``json.dumps`` per link took twice as long for the links of a page
    that must be rendered (a mirror's)."""
    parts = [
        _json_string(installer_path(link.path))[1:],
        ',"filename":',
        _json_string(link.filename),
        ',"hashes":',
        _json_object(link.hashes),
    ]
    if link.requires_python:
        parts += [',"requires-python":', _json_value(link.requires_python)]
    if link.yanked is not False:
        parts += [',"yanked":', _json_value(link.yanked)]
    if link.core_metadata:
        spec = _json_object(link.core_metadata)
        parts += [',"core-metadata":', spec, ',"dist-info-metadata":', spec]
    if link.size is not None:
        parts += [',"size":', _json_value(link.size)]
    upload_time = _upload_time(link)
    if upload_time:
        parts += [',"upload-time":', _json_string(upload_time)]
    provenance = provenance_url(link, url_prefix)
    if provenance:
        parts += [',"provenance":', _json_string(provenance)]
    parts.append("}")
    return "".join(parts)


def _json_value(value: object) -> str:
    if isinstance(value, str):
        return _json_string(value)
    return json.dumps(value, separators=(",", ":"))


def _json_object(mapping: dict[str, object]) -> str:
    return (
        "{" + ",".join([_json_string(k) + ":" + _json_value(v) for k, v in mapping.items()]) + "}"
    )


@dataclass(frozen=True)
class Repository:
    """PEP 708 facts of a project page: the projects elsewhere it tracks, and its other
    locations."""

    tracks: tuple[str, ...] = ()
    alternate_locations: tuple[str, ...] = ()


NO_REPOSITORY = Repository()


def project_html(
    name: str, links: list[Link], url_prefix: str, repository: Repository = NO_REPOSITORY
) -> bytes:
    return html_page(name, [html_tail(link, url_prefix) for link in links], url_prefix, repository)


def project_json(
    name: str, links: list[Link], url_prefix: str, repository: Repository = NO_REPOSITORY
) -> bytes:
    # PEP 700: the versions are a set and their order is not significant. They are listed in
    # the order of the files (upload order); sorting by PEP 440 meant parsing every version
    # and took longer than all the rest of a 3,000-version page.
    versions = [link.version for link in links if link.version]
    tails = [json_tail(link, url_prefix) for link in links]
    return json_page(name, versions, tails, url_prefix, repository)


def html_page(
    name: str, tails: list[str], url_prefix: str, repository: Repository = NO_REPOSITORY
) -> bytes:
    metas = "".join(
        f'    <meta name="pypi:{key}" content="{escape(url)}">\n'
        for key, urls in (
            ("tracks", repository.tracks),
            ("alternate-locations", repository.alternate_locations),
        )
        for url in urls
    )
    head = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        + metas
        + f"    <title>Links for {escape(name)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {escape(name)}</h1>\n"
    )
    opening = '    <a href="' + escape(url_prefix)
    lines = "".join([opening + tail + "\n" for tail in tails])
    return (head + lines + "  </body>\n</html>\n").encode("utf-8")


def json_page(
    name: str,
    versions: list[str],
    tails: list[str],
    url_prefix: str,
    repository: Repository = NO_REPOSITORY,
) -> bytes:
    """``versions`` may repeat: each is listed once, in the order first seen."""
    opening = '{"url":"' + json.dumps(url_prefix)[1:-1]
    meta: dict[str, object] = {"api-version": API_VERSION}
    document: dict[str, object] = {"meta": meta, "name": name}
    if repository.tracks:
        meta["tracks"] = list(repository.tracks)
    if repository.alternate_locations:
        document["alternate-locations"] = list(repository.alternate_locations)
    document["versions"] = list(dict.fromkeys(versions))
    head = json.dumps(document, separators=(",", ":"))
    files = ",".join([opening + tail for tail in tails])
    return (head[:-1] + ',"files":[' + files + "]}").encode("utf-8")


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
