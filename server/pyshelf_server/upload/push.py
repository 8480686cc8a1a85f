"""Copying a version (metadata, release files, tox results, docs) to another index, on this
server or, through the legacy upload protocol, on another one."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..app import RequestState
from ..indexes.models import Index
from ..indexes.registry import IndexInfo
from ..lifecycle.provenance import attestations_of
from ..mirror.upstream import safe_url
from ..packages.backend import file_path
from ..packages.models import File, Version
from ..packages.services import (
    FileInfo,
    FileRecord,
    PackageService,
    VersionRecord,
    log_entry,
)
from ..responses import APIError
from ..storage.files import FileStore, StoredBlob
from .services import file_info
from .targets import PushTarget

# What devpi-client's ``push`` may send.
PUSH_REQUEST_KEYS = frozenset(
    {
        "name",
        "version",
        "targetindex",
        "posturl",
        "username",
        "password",
        "register_project",
        "no_docs",
        "only_docs",
    }
)


@dataclass
class PushResult:
    actions: list[list[Any]] = field(default_factory=list)
    stored: list[FileInfo] = field(default_factory=list)
    docs: list[FileInfo] = field(default_factory=list)
    status: int = 200
    message: str | None = None


class PushService:
    def __init__(self, shelf: RequestState, packages: PackageService, files: FileStore) -> None:
        self.shelf = shelf
        self.packages = packages
        self.files = files

    def find_version(self, source: IndexInfo, name: str, version: str) -> tuple[IndexInfo, Version]:
        """The version as the source index sees it: the first hosted stage of its resolution
        order that has it."""
        for stage in self.shelf.snapshot.resolution_order(source):
            if stage.is_mirror:
                continue
            project = self.packages.project(stage.id, name)
            if project is None:
                continue
            found = self.packages.version(project, version)
            if found is not None and found.files:
                return stage, found
        raise APIError(404, f"there are no files for {name} {version} on index {source.fullname}")

    def push_internal(
        self,
        *,
        source: IndexInfo,
        target: Index,
        name: str,
        version: str,
        who: str,
        no_docs: bool = False,
        only_docs: bool = False,
    ) -> PushResult:
        stage, version_row = self.find_version(source, name, version)
        outcome = PushResult()
        project = self.packages.ensure_project(target, version_row.project.display_name)
        meta = {k: v for k, v in (version_row.meta or {}).items() if k not in ("name", "version")}
        target_version = self.packages.ensure_version(project, version, meta)
        outcome.actions.append([200, "register", project.name, version, "->", target.fullname])
        copied: dict[int, FileRecord] = {}
        files = [f for f in version_row.files if f.rel == "releasefile"]
        docs = [f for f in version_row.files if f.rel == "doczip"]
        results = [f for f in version_row.files if f.rel == "toxresult"]
        selected = [] if only_docs else files
        for file in selected:
            row = self._copy(file, target, target_version, who, stage)
            copied[file.id] = row
            info = file_info(target, project.name, version, row)
            outcome.stored.append(info)
            outcome.actions.append([200, "store_releasefile", info.path])
        if not only_docs:
            for result in results:
                if result.for_file_id not in copied:
                    continue
                row = self._copy(
                    result, target, target_version, who, stage, copied[result.for_file_id]
                )
                outcome.actions.append(
                    [200, "store_toxresult", file_path(target.fullname, row.sha256, row.filename)]
                )
        if not no_docs:
            for doc in docs:
                row = self._copy(doc, target, target_version, who, stage)
                outcome.docs.append(file_info(target, project.name, version, row))
                outcome.actions.append(
                    [200, "store_doczip", project.name, version, "->", target.fullname]
                )
        if not selected and not outcome.docs:
            raise APIError(
                404, f"there are no files for {name} {version} on index {source.fullname}"
            )
        return outcome

    def _copy(
        self,
        file: File,
        target: Index,
        version: VersionRecord,
        who: str,
        stage: IndexInfo,
        for_file: FileRecord | None = None,
    ) -> FileRecord:
        existing = self.packages.file_by_name(target.id, file.filename)
        if existing is not None and not target.volatile:
            raise APIError(
                409, f"{file.filename} already exists in non-volatile index {target.fullname}"
            )
        blob = StoredBlob(file.sha256, file.size, created=False)
        metadata_blob = None
        if file.metadata_sha256:
            metadata_blob = StoredBlob(file.metadata_sha256, 0, created=False)
        log = [*(file.log or []), log_entry("push", who, target.fullname, src=stage.fullname)]
        return self.packages.add_file(
            index=target,
            version=version,
            filename=file.filename,
            replacing=existing,
            blob=blob,
            rel=file.rel,
            uploader=who,
            log=log,
            requires_python=file.requires_python,
            metadata_blob=metadata_blob,
            for_file=for_file,
            upload_time=file.upload_time,
            provenance=file.provenance,
        )

    def plan_external(
        self, *, source: IndexInfo, name: str, version: str, no_docs: bool, only_docs: bool
    ) -> ExternalPush:
        """What an external push sends, read from the database so that the transfer itself
        needs neither a transaction nor the write lock."""
        _stage, version_row = self.find_version(source, name, version)
        meta = dict(version_row.meta or {})
        fields = {
            k: v for k, v in meta.items() if v not in ("", [], None) and not k.startswith("+")
        }
        files = []
        for file in version_row.files:
            if file.rel == "releasefile" and not only_docs:
                wheel = file.filename.endswith(".whl")
                form = {
                    ":action": "file_upload",
                    "protocol_version": "1",
                    "filetype": "bdist_wheel" if wheel else "sdist",
                    "pyversion": "py3" if wheel else "source",
                    "sha256_digest": file.sha256,
                    **fields,
                }
                if file.provenance:
                    # The attestations go on with the file, as they came.
                    form["attestations"] = attestations_of(file.provenance)
            elif file.rel == "doczip" and not no_docs:
                form = {":action": "doc_upload", "name": name, "version": version}
            else:
                continue
            files.append(
                OutgoingFile(
                    form=form,
                    filename=file.filename,
                    path=file_path(source.fullname, file.sha256, file.filename),
                    open_blob=functools.partial(self.files.open, file.sha256),
                )
            )
        return ExternalPush(name=name, version=version, fields=fields, files=files)


@dataclass(frozen=True)
class OutgoingFile:
    form: dict[str, Any]
    filename: str
    # The file's path on this server, for the action log.
    path: str
    # Opens the stored content (``FileNotFoundError`` once it is gone).
    open_blob: Callable[[], BinaryIO]


@dataclass(frozen=True)
class ExternalPush:
    name: str
    version: str
    fields: dict[str, Any]
    files: list[OutgoingFile]


def send_external(
    plan: ExternalPush,
    target: PushTarget,
    *,
    username: str | None,
    password: str | None,
    register_project: bool,
    connect_timeout: float,
    timeout: float,
) -> PushResult:
    """POST the planned files to ``target`` with the legacy upload protocol, connecting to the
    address that was checked. Upstream statuses go into the action log; a target that cannot
    be reached ends the push with a 502 naming the failure."""
    # Imported here: pushing to another server is rare, and httpx costs ~30 ms of start.
    import httpx

    outcome = PushResult()
    try:
        url = httpx.URL(target.url)
    except httpx.InvalidURL as error:
        raise APIError(400, f"posturl is not a valid URL: {error}") from None
    host_header = url.netloc.decode("ascii").rpartition("@")[2]
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    auth = (username, password or "") if username is not None else None

    def post(data: dict[str, Any], files: Any = None) -> httpx.Response:
        return client.post(
            url.copy_with(host=target.address),
            data=data,
            files=files,
            headers={"Host": host_header},
            extensions=extensions,
        )

    where = safe_url(target.url)
    # No proxy from the environment: the push must reach the address that was checked.
    with httpx.Client(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        auth=auth,
        follow_redirects=False,
        trust_env=False,
    ) as client:
        try:
            if register_project:
                response = post({":action": "submit", **plan.fields})
                outcome.actions.append([response.status_code, "register", plan.name, plan.version])
                if response.status_code not in (200, 201, 410):
                    return _failed(outcome, where, response, "register")
            for file in plan.files:
                try:
                    content = file.open_blob()
                except OSError:
                    outcome.actions.append([404, "upload", file.path, "removed meanwhile"])
                    outcome.status = 409
                    outcome.message = f"{file.filename} was removed while it was being pushed"
                    return outcome
                with content:
                    response = post(file.form, {"content": (file.filename, content)})
                outcome.actions.append(
                    [response.status_code, "upload", file.path, response.reason_phrase]
                )
                if response.status_code not in (200, 201, 410) and outcome.message is None:
                    _failed(outcome, where, response, f"upload of {file.filename}")
        except httpx.TimeoutException as error:
            outcome.status = 502
            outcome.message = f"push target {where} timed out ({type(error).__name__})"
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            outcome.status = 502
            outcome.message = f"push target {where} is unreachable: {error}"
    return outcome


def _failed(outcome: PushResult, where: str, response: Any, step: str) -> PushResult:
    outcome.status = 502
    outcome.message = (
        f"push target {where} answered {response.status_code} {response.reason_phrase} "
        f"to the {step}"
    )
    return outcome
