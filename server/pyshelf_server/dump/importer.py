"""``pyshelf-import``: a dump (pyshelf's own export or devpi-server's ``devpi-export``, dump
versions 1 and 2) into a new server, and a folder of sdists and wheels into one index.

Everything is checked before it is written (``checks``): the dump version, every user and index
name, the index types, the bases (no cycles); every file's content is hashed while it is copied
into the store and compared with the hashes the dump records. The whole import is one
transaction: it is all there or, after an error, none of it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from sqlalchemy import select

from ..accounts.htpasswd import IN_HTPASSWD_FILE
from ..accounts.models import User
from ..accounts.services import TEXT_FIELDS, UserService, checked_user_fields, is_known_hash
from ..indexes.models import Index
from ..indexes.services import IndexService
from ..limits import MAX_NAME_LENGTH
from ..names import normalize_name
from ..packages.services import FileRecord, PackageService, log_entry
from ..responses import APIError
from ..storage.files import CHUNK, BlobStore
from ..upload.form import ReceivedFile
from ..upload.services import prepare_release
from . import inherited_yanks, version_dates
from .checks import DumpError, base_first, check_names, load_dump, read_pyshelf_facts

RELEASE_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass
class ImportReport:
    users: int = 0
    indexes: int = 0
    files: int = 0
    # Already in the index with the same content (a re-run of --from-dir).
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)


def _when(record: dict[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None


class Importer:
    def __init__(self, app: Any, uow: Any) -> None:
        self.app = app
        self.uow = uow
        self.session = uow.session
        self.files: BlobStore = app.files
        self.users = UserService(uow)
        self.indexes = IndexService(uow, app)
        self.packages = PackageService(uow, app.files)
        self.report = ImportReport()
        # (index id, normalised project, version) -> its row, once the dump's metadata is set:
        # the files of a version then need no further query.
        self.versions: dict[tuple[int, str, str], Any] = {}

    # -- a dump ------------------------------------------------------------------------------

    def require_empty_server(self) -> None:
        names = set(self.session.scalars(select(User.name)))
        indexes = {index.fullname for index in self.session.scalars(select(Index)).unique()}
        if names - {"root"} or indexes - {"root/pypi"}:
            raise DumpError(
                "the server already holds users or indexes; import a dump into a new server "
                "directory"
            )

    def import_dump(self, dump: Path) -> ImportReport:
        data = load_dump(dump)
        check_names(data, set(self.app.index_types))
        facts = read_pyshelf_facts(data["indexes"])
        self.require_empty_server()
        order = base_first(data["indexes"], self.report.notes)
        for name, record in data["users"].items():
            self._user(name, record)
        created: dict[str, Index] = {}
        for fullname in order:
            created[fullname] = self._index(fullname, data["indexes"][fullname])
        for fullname in order:
            config = data["indexes"][fullname].get("indexconfig") or {}
            bases = [b for b in config.get("bases") or [] if b in data["indexes"]]
            if bases:
                self.indexes.modify(created[fullname], {"bases": bases}, by="root")
        self.session.flush()
        for fullname in order:
            entry = data["indexes"][fullname]
            index = created[fullname]
            if index.type in self.app.registry.mirror_types:
                self._mirror_files(dump, index, entry.get("files") or [])
                continue
            self._stage(dump, index, entry)
            yanks, dates = facts[fullname]
            inherited_yanks.restore(self.session, index, yanks)
            try:
                version_dates.restore(self.session, index, dates)
            except ValueError as error:
                raise DumpError(f"index {fullname}: {error}") from None
        return self.report

    def _user(self, name: str, record: dict[str, Any]) -> None:
        changes = {k: record[k] for k in (*TEXT_FIELDS, "custom_data", "read_only") if k in record}
        pwhash = record.get("pwhash")
        if pwhash == IN_HTPASSWD_FILE:
            pass
        elif isinstance(pwhash, str) and not record.get("pwsalt") and is_known_hash(pwhash):
            changes["pwhash"] = pwhash
        else:
            # No hash (an autocreated user) or devpi's pre-4.2 salted SHA-256: it cannot be
            # checked here, so the user gets a random password that root must reset.
            changes["password"] = secrets.token_urlsafe(24)
            self.report.notes.append(f"user {name}: no usable password hash; root must set one")
        try:
            fields = checked_user_fields(changes)
        except APIError as error:
            raise DumpError(f"user {name}: {error.message}") from None
        if pwhash == IN_HTPASSWD_FILE:
            # Their password stays in the htpasswd file of the server that imports them.
            fields["password_hash"] = IN_HTPASSWD_FILE
        user = self.users.get(name)
        if user is None:
            user = self.users.create(name, fields)
        else:
            for key, value in fields.items():
                setattr(user, key, value)
        created = _when(record, "created")
        if created is not None:
            user.created = created
        modified = _when(record, "modified")
        if modified is not None:
            user.modified = modified
        self.report.users += 1

    def _index(self, fullname: str, entry: dict[str, Any]) -> Index:
        config = dict(entry.get("indexconfig") or {})
        config.pop("bases", None)
        config.pop("projects", None)
        if "pypi_whitelist" in config:  # devpi's name before 3.0
            config.setdefault("mirror_whitelist", config.pop("pypi_whitelist"))
        if not config.get("uploadtrigger_jenkins"):
            config.pop("uploadtrigger_jenkins", None)
        user_name, _, name = fullname.partition("/")
        try:
            index = self.indexes.get(user_name, name)
            if index is None:
                index = self.indexes.create(self.users.require(user_name), name, config, by="root")
            else:
                config.pop("type", None)
                self.indexes.modify(index, config, by="root")
        except APIError as error:
            raise DumpError(f"index {fullname}: {error.message}") from None
        self.report.indexes += 1
        return index

    def _stage(self, dump: Path, index: Index, entry: dict[str, Any]) -> None:
        # Older dumps key projects by unnormalised names: entries that normalise alike merge.
        projects: dict[str, dict[str, Any]] = {}
        displays: dict[str, str] = {}
        for name, versions in (entry.get("projects") or {}).items():
            if not name or len(name) > MAX_NAME_LENGTH or not isinstance(versions or {}, dict):
                raise DumpError(f"{index.fullname}: project {name[:MAX_NAME_LENGTH]!r} is not "
                                f"a name (at most {MAX_NAME_LENGTH} characters) with its versions")
            displays.setdefault(normalize_name(name), name)
            projects.setdefault(normalize_name(name), {}).update(versions or {})
        for normalized, versions in projects.items():
            if not versions:
                # Without versions it still claims its name in the stage, hiding the mirrors
                # behind it (packages.services.delete_version).
                self.packages.ensure_project(index, displays[normalized])
            for version, meta in versions.items():
                self._version(index, version, meta)
        descriptors = entry.get("files") or []
        order = {"releasefile": 0, "doczip": 1, "toxresult": 2}
        releases: dict[str, FileRecord] = {}
        for descriptor in sorted(descriptors, key=lambda d: order.get(d.get("type"), 3)):
            kind = descriptor.get("type")
            if kind not in order:
                raise DumpError(f"{index.fullname}: unknown file type {kind!r}")
            path = dump / descriptor["relpath"]
            if not path.is_file():
                raise DumpError(f"{descriptor['relpath']} is named in the dump but missing")
            received = self._receive(path, descriptor)
            if kind == "releasefile":
                row = self._release(index, descriptor, received, projects)
                releases[path.name] = row
            elif kind == "doczip":
                self._doc(index, descriptor, received)
            else:
                target = Path(descriptor.get("for_entrypath", "")).name
                release = releases.get(target)
                if release is None:
                    raise DumpError(f"{descriptor['relpath']}: its release {target} is missing")
                self._toxresult(index, descriptor, received, release)
            self.report.files += 1

    def _mirror_files(self, dump: Path, index: Index, descriptors: list[dict[str, Any]]) -> None:
        """Files a mirror had cached (``--include-mirrors``): into its cache, found by the
        same URL as before, so that they are served without asking upstream again."""
        from ..mirror.links import file_key, guess_version
        from ..mirror.models import MirrorFile

        for descriptor in descriptors:
            mapping = descriptor.get("entrymapping") or {}
            url = mapping.get("url")
            path = dump / descriptor["relpath"]
            if not url or not path.is_file():
                raise DumpError(f"{descriptor['relpath']}: a mirrored file needs its url and "
                                "content in the dump")
            received = self._receive(path, descriptor)
            blob = self._stored(received)
            facts = mapping.get("pyshelf") or {}
            key = facts.get("key") or file_key(blob.sha256[:3], blob.sha256[3:16])
            project = normalize_name(descriptor.get("projectname") or "")
            version = descriptor.get("version")
            if not version or version == "unknown":
                version = guess_version(project, received.filename)
            self.session.add(MirrorFile(
                index_id=index.id, project=project, filename=received.filename, key=key,
                sha256=blob.sha256, size=blob.size, version=version, url=url,
            ))
            self.report.files += 1

    def _version(self, index: Index, version: str, meta: dict[str, Any]) -> Any:
        meta = {k: v for k, v in (meta or {}).items() if not k.startswith("+") and k != ":action"}
        name = meta.pop("name", None)
        if not name:
            raise DumpError(f"{index.fullname}: version {version} has no project name")
        project = self.packages.ensure_project(index, name)
        meta.pop("version", None)
        row = self.packages.ensure_version(project, str(version), meta)
        self.versions[(index.id, project.name, str(version))] = row
        return row

    def _receive(self, path: Path, descriptor: dict[str, Any]) -> ReceivedFile:
        """``path`` copied into the store's temporary directory, hashed on the way and
        checked against every hash the descriptor records."""
        mapping = descriptor.get("entrymapping") or {}
        expected: dict[str, str] = dict(mapping.get("hashes") or {})
        spec = mapping.get("hash_spec")
        if isinstance(spec, str) and "=" in spec:
            algorithm, _, value = spec.partition("=")
            expected.setdefault(algorithm, value)
        if "md5" in mapping and isinstance(mapping["md5"], str):
            expected.setdefault("md5", mapping["md5"])
        digests = {name: hashlib.new(name) for name in {"sha256", *expected}
                   if name in hashlib.algorithms_available}
        temporary = self.files.temporary("import-")
        size = 0
        with open(path, "rb") as source, open(temporary, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                out.write(chunk)
                size += len(chunk)
                for digest in digests.values():
                    digest.update(chunk)
        for name, value in expected.items():
            if name in digests and digests[name].hexdigest() != value.lower():
                temporary.unlink()
                raise DumpError(f"{descriptor['relpath']}: its {name} does not match the dump's")
        return ReceivedFile(path.name, temporary, digests["sha256"].hexdigest(), size)

    def _release(
        self, index: Index, descriptor: dict[str, Any], received: ReceivedFile,
        projects: dict[str, dict[str, Any]],
    ) -> FileRecord:
        filename = received.filename
        name = descriptor.get("projectname") or descriptor.get("project")
        version = descriptor.get("version") or _version_from_filename(filename)
        if not name or not version:
            raise DumpError(f"{descriptor['relpath']}: no project name or version")
        meta = projects.get(normalize_name(name), {}).get(version) or {}
        display = meta.get("name") or name
        return self.store_release(index, display, version, received, descriptor=descriptor,
                                  meta=meta)

    def store_release(
        self, index: Index, name: str, version: str, received: ReceivedFile, *,
        descriptor: dict[str, Any] | None = None, meta: dict[str, Any] | None = None,
        uploader: str | None = None,
    ) -> FileRecord:
        try:
            prepared = prepare_release(
                self.files, self.uow, name=name, version=version,
                filename=received.filename, received=received, form_meta={}, fields={},
            )
        except APIError as error:
            raise DumpError(f"{received.filename}: {error.message}") from None
        merged = {**prepared.meta, **{k: v for k, v in (meta or {}).items()
                                      if not k.startswith("+") and k != ":action"}}
        merged["name"] = name
        known = self.versions.get((index.id, normalize_name(name), version))
        # A dump's version carries its metadata already; a file from a folder brings its own.
        version_row = known if known is not None and descriptor else (
            self._version(index, version, merged)
        )
        facts, log, when = _file_facts(descriptor, index.fullname, uploader)
        row = self.packages.add_file(
            index=index, version=version_row, filename=received.filename,
            replacing=self.packages.file_by_name(index.id, received.filename),
            blob=prepared.blob,
            uploader=facts.get("uploader") or _log_uploader(log), log=log,
            requires_python=(version_row.meta or {}).get("requires_python") or None,
            metadata_blob=prepared.metadata_blob, upload_time=when,
            provenance=_provenance(facts),
            **_kept_state(facts, merged),
        )
        return row

    def _stored(self, received: ReceivedFile) -> Any:
        blob = self.files.adopt(received.path, sha256=received.sha256, size=received.size)
        received.adopted = True
        return blob

    def _doc(self, index: Index, descriptor: dict[str, Any], received: ReceivedFile) -> None:
        name = descriptor.get("projectname") or descriptor.get("project")
        version = descriptor.get("version")
        if not name or not version:
            raise DumpError(f"{descriptor['relpath']}: no project name or version")
        version_row = self._version(index, version, {"name": name})
        facts, log, when = _file_facts(descriptor, index.fullname, None)
        display = version_row.display_name
        filename = f"{display}-{version}.doc.zip"
        self.packages.add_file(
            index=index, version=version_row, filename=filename,
            replacing=self.packages.file_by_name(index.id, filename),
            blob=self._stored(received), rel="doczip",
            uploader=facts.get("uploader") or _log_uploader(log), log=log, upload_time=when,
        )

    def _toxresult(
        self, index: Index, descriptor: dict[str, Any], received: ReceivedFile, release: FileRecord
    ) -> None:
        facts, log, when = _file_facts(descriptor, index.fullname, None)
        filename = facts.get("filename") or received.filename
        self.packages.add_file(
            index=index, version=release.version, filename=filename,
            replacing=self.packages.file_by_name(index.id, filename),
            blob=self._stored(received), rel="toxresult", for_file=release,
            uploader=facts.get("uploader") or _log_uploader(log), log=log, upload_time=when,
        )

    # -- a folder of sdists and wheels -------------------------------------------------------

    def import_directory(self, directory: Path, fullname: str, uploader: str) -> ImportReport:
        if not directory.is_dir():
            raise DumpError(f"{directory} is not a directory")
        user_name, _, name = fullname.partition("/")
        index = self.indexes.get(user_name, name)
        if index is None:
            user = self.users.get(user_name)
            if user is None:
                raise DumpError(f"user {user_name} does not exist; create it first")
            try:
                index = self.indexes.create(user, name, {"type": "stage"}, by="root")
            except APIError as error:
                raise DumpError(f"index {fullname}: {error.message}") from None
            self.report.indexes += 1
        elif index.type in self.app.registry.mirror_types:
            raise DumpError(f"{fullname} is a mirror; files go into a stage index")
        for path in _release_files(directory):
            try:
                project, version = _name_version(path.name)
            except ValueError as error:
                self.report.notes.append(f"{path.name}: skipped ({error})")
                continue
            received = self._receive(path, {"relpath": str(path)})
            existing = self.packages.file_by_name(index.id, path.name)
            if existing is not None and existing.sha256 == received.sha256:
                received.path.unlink()
                self.report.unchanged += 1
                continue
            if existing is not None and not index.volatile:
                received.path.unlink()
                self.report.notes.append(
                    f"{path.name}: skipped, {fullname} is not volatile and holds other content "
                    "under that name"
                )
                continue
            self.store_release(index, project, version, received, uploader=uploader)
            self.report.files += 1
        return self.report


def _release_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        name = path.name
        if path.is_file() and name.endswith(RELEASE_SUFFIXES) and not name.startswith("."):
            yield path


def _name_version(filename: str) -> tuple[str, str]:
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise ValueError(str(error)) from None
    return str(name), str(version)


def _version_from_filename(filename: str) -> str | None:
    try:
        return _name_version(filename)[1]
    except ValueError:
        return None


def _file_facts(
    descriptor: dict[str, Any] | None, fullname: str, uploader: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]], datetime | None]:
    mapping = (descriptor or {}).get("entrymapping") or {}
    facts = dict(mapping.get("pyshelf") or {})
    log = list((descriptor or {}).get("log") or [])
    if not log:
        log = [log_entry("upload", uploader or "<import>", fullname)]
    when = None
    if facts.get("upload_time"):
        try:
            when = datetime.fromisoformat(facts["upload_time"])
        except ValueError:
            when = None
    if when is None and isinstance(mapping.get("last_modified"), str):
        try:
            when = parsedate_to_datetime(mapping["last_modified"])
        except (TypeError, ValueError):
            when = None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return facts, log, when


def _log_uploader(log: list[dict[str, Any]]) -> str | None:
    for entry in log:
        if isinstance(entry, dict) and entry.get("what") == "upload" and entry.get("who"):
            return str(entry["who"])
    return None


def _provenance(facts: dict[str, Any]) -> str | None:
    """A dump's stored PEP 740 provenance object, when it is one."""
    provenance = facts.get("provenance")
    if not isinstance(provenance, str):
        return None
    try:
        bundles = json.loads(provenance).get("attestation_bundles")
    except (ValueError, AttributeError):
        raise DumpError("a file's provenance is not a provenance object") from None
    if not isinstance(bundles, list):
        raise DumpError("a file's provenance is not a provenance object")
    return provenance


def _kept_state(facts: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The yank and the download count an exported file had (``add_file``'s arguments)."""
    state: dict[str, Any] = {}
    yanked = facts.get("yanked", meta.get("yanked"))
    if yanked:
        reason = facts.get("yanked_reason")
        if reason is None and isinstance(yanked, str):
            reason = yanked
        state.update(yanked=True, yanked_reason=reason)
    if facts.get("download_count"):
        state["download_count"] = int(facts["download_count"])
    return state
