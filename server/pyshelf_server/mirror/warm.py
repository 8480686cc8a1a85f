"""Pre-warming a mirror: download into its store, ahead of any installer, every file a
requirement or a lock file names, so that installs work later with upstream out of reach.

``POST /{user}/{index}/+warm`` takes ``{"projects": [{"name": …, "specifier": …}, …]}`` or,
for lock files, ``{"name": …, "files": [filename, …]}`` entries. What is chosen:

* with ``specifier``: every file on the project's upstream page whose version the specifier
  admits (pre-releases only when the specifier names one, or when no final release matches),
  for every platform and Python the page offers. Dependencies are not resolved: a requirements
  file warms what it names, so it should list every package (``pip freeze``, ``uv pip
  compile`` output);
* with ``files``: exactly those files (what a lock file pins); a file not on the page is
  reported as not fetched.

Each file is fetched as a client's request for it would be (the same verified download into
the store, ``mirror.files``), with its PEP 658 metadata file when upstream offers one, one
after the other; the answer says per file whether it was fetched, already cached, or failed
and why.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import select

from ..names import normalize_name
from ..responses import APIError
from ..unit_of_work import end_read_transaction
from .files import FileRecord, record_file
from .links import METADATA_SUFFIX, file_key, guess_version, url_key
from .models import MirrorFile
from .upstream import UpstreamError

# Projects per request; the client sends one at a time to show progress.
MAX_PROJECTS = 100
MAX_FILES = 10_000
# Longest wait for one file: longer than any upstream download that makes progress.
DOWNLOAD_WAIT_SECONDS = 3600.0


def parse_request(body: Any) -> list[tuple[str, SpecifierSet | None, list[str] | None]]:
    """(name, specifier, filenames) per project, or a 400 naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("projects"), list):
        raise APIError(400, 'expected {"projects": [{"name": ..., "specifier": ...}, ...]}')
    projects = body["projects"]
    if len(projects) > MAX_PROJECTS:
        raise APIError(400, f"at most {MAX_PROJECTS} projects per request")
    parsed = []
    for entry in projects:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise APIError(400, "every project needs a 'name'")
        name = normalize_name(entry["name"])
        if not name or len(name) > 200:
            raise APIError(400, f"invalid project name {entry['name']!r}")
        specifier, files = entry.get("specifier"), entry.get("files")
        if (specifier is None) == (files is None):
            raise APIError(400, f"{name}: give either 'specifier' or 'files'")
        if specifier is not None:
            if not isinstance(specifier, str) or len(specifier) > 1000:
                raise APIError(400, f"{name}: 'specifier' must be a string")
            try:
                parsed.append((name, SpecifierSet(specifier), None))
            except InvalidSpecifier:
                raise APIError(400, f"{name}: invalid specifier {specifier!r}") from None
            continue
        if (
            not isinstance(files, list)
            or len(files) > MAX_FILES
            or not all(isinstance(f, str) and 0 < len(f) <= 400 for f in files)
        ):
            raise APIError(400, f"{name}: 'files' must be a list of file names")
        parsed.append((name, None, files))
    return parsed


def warm(backend: Any, projects: list[tuple[str, SpecifierSet | None, list[str] | None]]) -> dict:
    outcome: dict[str, list[Any]] = {"fetched": [], "cached": [], "failed": []}
    for name, specifier, files in projects:
        try:
            state = backend.page(name)
        except APIError as error:
            outcome["failed"].append({"project": name, "filename": None, "error": error.message})
            continue
        if state is None:
            outcome["failed"].append(
                {"project": name, "filename": None, "error": "no such project upstream"}
            )
            continue
        chosen = _chosen_links(name, state.links, specifier, files, outcome)
        # What follows waits on upstream: no read transaction of the request stays open.
        end_read_transaction(backend.session)
        for link in chosen:
            for record_link in _with_metadata(link):
                status, error = _fetch(backend, name, record_link)
                if error is None:
                    outcome[status].append(record_link["filename"])
                else:
                    outcome["failed"].append(
                        {"project": name, "filename": record_link["filename"], "error": error}
                    )
    return outcome


def _chosen_links(
    name: str,
    links: list[dict[str, Any]],
    specifier: SpecifierSet | None,
    files: list[str] | None,
    outcome: dict[str, list[Any]],
) -> list[dict[str, Any]]:
    if files is not None:
        by_name = {link["filename"]: link for link in links}
        for missing in sorted(set(files) - set(by_name)):
            outcome["failed"].append(
                {"project": name, "filename": missing, "error": "not on upstream's page"}
            )
        return [by_name[f] for f in dict.fromkeys(files) if f in by_name]
    assert specifier is not None
    versions: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        version = link.get("version") or guess_version(name, link["filename"])
        if version:
            versions.setdefault(version, []).append(link)
    parsed = {}
    for version in versions:
        try:
            parsed[version] = Version(version)
        except InvalidVersion:
            continue
    admitted = {str(v) for v in specifier.filter(parsed.values())}
    chosen = [
        link for version, group in versions.items()
        if version in parsed and str(parsed[version]) in admitted for link in group
    ]
    if not chosen:
        outcome["failed"].append(
            {"project": name, "filename": None,
             "error": f"no file on upstream's page matches {str(specifier) or 'any version'}"}
        )
    return chosen


def _with_metadata(link: dict[str, Any]) -> list[dict[str, Any]]:
    core = link.get("core_metadata")
    if not isinstance(core, dict) or not core:
        return [link]
    return [link, {
        "filename": link["filename"] + METADATA_SUFFIX,
        "url": link["url"] + METADATA_SUFFIX,
        "hashes": core,
        "version": link.get("version"),
    }]


def _fetch(backend: Any, project: str, link: dict[str, Any]) -> tuple[str, str | None]:
    """("fetched" | "cached", None), or ("", why it failed)."""
    index, app, runtime = backend.index, backend.app, backend.runtime
    _kind, first, second = url_key(link)
    key = file_key(first, second)
    with app.database.reading() as session:
        stored = session.execute(
            select(MirrorFile.sha256).where(
                MirrorFile.index_id == index.id,
                MirrorFile.filename == link["filename"],
                MirrorFile.key == key,
            )
        ).scalar()
    if stored is not None and app.files.exists(stored):
        return "cached", None
    record = FileRecord(
        index_id=index.id, project=project, filename=link["filename"], key=key,
        version=link.get("version"), url=link["url"],
    )
    hashes = link.get("hashes") or {}
    sha256 = hashes.get("sha256")
    if sha256 and app.files.touch(sha256):
        # Stored already for another index: no download needed.
        record_file(app, record, sha256, app.files.size(sha256))
        return "cached", None
    if backend.offline:
        return "", "the server is in offline mode"
    try:
        give_back = runtime.places.take(link["url"])
    except UpstreamError as error:
        return "", str(error)
    try:
        download = runtime.downloads.start_or_join(record, hashes)
        download.wait(lambda: download.finished, DOWNLOAD_WAIT_SECONDS)
    except UpstreamError as error:
        return "", str(error)
    finally:
        give_back()
    if not download.finished:
        return "", "the download did not finish in time"
    if download.error is not None:
        return "", download.error
    return "fetched", None
