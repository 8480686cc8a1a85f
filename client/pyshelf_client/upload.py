"""build the project and upload its files to the index

    pyshelf upload                       build the project in the current directory and upload
    pyshelf upload PROJECT_DIR           build that project and upload
    pyshelf upload FILE ...              upload release files and NAME-VERSION.doc.zip files
    pyshelf upload --from-dir DIR        upload every archive found below DIR

Files already on the index with the same sha256 are skipped. Building uses the standard
`build` frontend; --with-docs also zips the documentation (Sphinx docs/ or built HTML).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from . import archives
from .archives import UploadFile
from .errors import ClientError, ServerError, UsageError
from .hub import Hub, IndexRef

COMMAND = "upload"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="a project directory, or files to upload"
    )
    parser.add_argument("--from-dir", type=Path, metavar="DIR", help="upload archives below DIR")
    parser.add_argument(
        "--with-docs", action="store_true", help="also build and upload the documentation"
    )
    parser.add_argument(
        "--only-docs", action="store_true", help="only build and upload the documentation"
    )
    parser.add_argument(
        "--formats",
        metavar="sdist,wheel",
        help="which distributions to build or pick (default: sdist,wheel)",
    )
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="build in the current environment instead of an isolated one",
    )
    parser.add_argument("--dry-run", action="store_true", help="build and check, but do not upload")
    parser.add_argument(
        "--index", metavar="USER/INDEX", help="upload to this index instead of the current one"
    )


def main(hub: Hub, args: argparse.Namespace) -> int:
    if args.with_docs and args.only_docs:
        raise UsageError("--with-docs and --only-docs exclude each other")
    formats = archives.parse_formats(args.formats)
    ref = hub.index_ref(args.index)
    if not ref.pypisubmit:
        raise UsageError(f"index {ref.name} does not accept uploads (it is a mirror)")
    with tempfile.TemporaryDirectory(prefix="pyshelf-upload-") as tmp:
        files = collect(hub, args, formats=formats, workdir=Path(tmp))
        if not files:
            raise ClientError("nothing to upload")
        return upload_files(hub, ref, files, dry_run=args.dry_run)


def collect(
    hub: Hub, args: argparse.Namespace, *, formats: set[str], workdir: Path
) -> list[UploadFile]:
    paths = [Path(p) for p in args.paths]
    if args.from_dir is not None:
        if paths:
            raise UsageError("give either --from-dir or PATH arguments, not both")
        found = archives.find_archives(args.from_dir)
        return _select(found, formats=formats, only_docs=args.only_docs)
    projects = [p for p in paths if p.is_dir()]
    files = [p for p in paths if not p.is_dir()]
    for path in files:
        if not path.exists():
            raise UsageError(f"{path} does not exist")
    if projects and files:
        raise UsageError("give either one project directory or files, not both")
    if len(projects) > 1:
        raise UsageError("give one project directory at a time")
    if files:
        if args.with_docs:
            raise UsageError("--with-docs needs a project to build; pass the doc zip instead")
        return _select(files, formats=formats, only_docs=args.only_docs, strict=True)
    project = (projects[0] if projects else Path.cwd()).resolve()
    return build(hub, project, args, formats=formats, workdir=workdir)


def _select(
    paths: list[Path], *, formats: set[str], only_docs: bool, strict: bool = False
) -> list[UploadFile]:
    selected = []
    for path in paths:
        if archives.is_doczip(path):
            selected.append(path)
        elif only_docs:
            continue
        elif archives.is_release(path):
            if archives.release_format(path) in formats:
                selected.append(path)
        elif strict:
            raise UsageError(f"{path}: not a release archive (.whl, .tar.gz, .zip) or doc zip")
    return archives.order_for_upload(archives.describe(p) for p in selected)


def build(
    hub: Hub, project: Path, args: argparse.Namespace, *, formats: set[str], workdir: Path
) -> list[UploadFile]:
    isolation = not args.no_isolation
    files: list[UploadFile] = []
    if not args.only_docs:
        hub.line(f"building {' and '.join(sorted(formats))} of {project}")
        dist = workdir / "dist"
        dist.mkdir()
        built = archives.build_packages(
            project, dist, formats=formats, isolation=isolation, debug=hub.debug_enabled
        )
        files = [archives.describe(p) for p in built]
        name, version = files[0].name, files[0].version
    if args.with_docs or args.only_docs:
        if args.only_docs:
            name, version = archives.project_name_version(project, isolation=isolation)
        hub.line(f"building documentation of {name} {version}")
        docs = workdir / "docs"
        docs.mkdir()
        doczip = archives.build_docs(
            project, docs, name=name, version=version, debug=hub.debug_enabled
        )
        files.append(archives.describe(doczip))
    return archives.order_for_upload(files)


def existing_hashes(hub: Hub, ref: IndexRef, name: str) -> dict[str, str]:
    """basename -> sha256 of the files this index itself (not its bases) holds for *name*."""
    url = f"{ref.url}/{name}/"
    reply = hub.request("GET", url, params={"ignore_bases": ""}, ok=None)
    if reply.status == 404 or reply.type != "projectconfig":
        return {}
    if reply.status >= 400:
        raise ServerError(
            hub.describe_error(reply, what=f"GET {url}"),
            status=reply.status,
            server_message=reply.message,
        )
    hashes: dict[str, str] = {}
    for versiondata in (reply.result or {}).values():
        if not isinstance(versiondata, dict):
            continue
        for link in versiondata.get("+links") or []:
            href = str(link.get("href", ""))
            if not href.startswith(ref.url + "/"):
                continue
            digest = (link.get("hashes") or {}).get("sha256")
            if not digest and str(link.get("hash_spec", "")).startswith("sha256="):
                digest = link["hash_spec"].split("=", 1)[1]
            if digest:
                hashes[href.rsplit("/", 1)[-1].split("#")[0]] = digest
    return hashes


def upload_files(hub: Hub, ref: IndexRef, files: list[UploadFile], *, dry_run: bool) -> int:
    known: dict[str, dict[str, str]] = {}
    uploaded = skipped = 0
    for item in files:
        if item.name not in known:
            known[item.name] = existing_hashes(hub, ref, item.name)
        if known[item.name].get(item.basename) == item.sha256():
            hub.line(f"skipped {item.basename}: already on {ref.name} with the same sha256")
            skipped += 1
            continue
        if dry_run:
            hub.line(f"would upload {item.basename} ({_size(item.size)}) to {ref.pypisubmit}")
            continue
        reply = post_file(hub, ref, item)
        if reply.status != 200:
            # devpi-client counts only an exact 200 as success; do the same so CI
            # notices a server that half-accepted a file.
            raise ServerError(
                f"upload of {item.basename} to {ref.name} refused: {reply.status} "
                f"{reply.message}" + _hint(hub, reply.status),
                status=reply.status,
                server_message=reply.message,
            )
        note = ""
        if reply.reason and reply.reason not in ("OK", ""):
            note = f" ({reply.reason})"
            if "fail" in reply.reason.lower():
                hub.warn(f"{item.basename}: {reply.reason}")
        hub.line(f"uploaded {item.basename} ({_size(item.size)}) to {ref.name}{note}")
        uploaded += 1
    if not dry_run:
        hub.line(f"{uploaded} uploaded, {skipped} skipped")
    return 0


def _hint(hub: Hub, status: int) -> str:
    if status == 401:
        return " (not logged in, or the login expired: run 'pyshelf login USER')"
    if status == 409:
        return " (the index is not volatile; bump the version)"
    if status == 413:
        return " (the file is larger than the server accepts)"
    return ""


def post_file(hub: Hub, ref: IndexRef, item: UploadFile) -> Any:
    with item.path.open("rb") as raw, _progress(hub, item) as advance:
        content = _ProgressReader(raw, advance)
        return hub.request(
            "POST",
            ref.pypisubmit,
            data=item.form_fields(),
            files={"content": (item.basename, content, "application/octet-stream")},
            accept_json=False,
            ok=None,
        )


@contextmanager
def _progress(hub: Hub, item: UploadFile) -> Iterator[Any]:
    # On stderr and transient: a terminal shows the bar, logs get only the summary line.
    console = Console(file=hub.stderr, highlight=False)
    if not console.is_terminal:
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(item.basename, total=item.size)
        yield lambda n: progress.advance(task, n)


class _ProgressReader:
    """A binary file that reports how much httpx has read of it."""

    def __init__(self, raw: BinaryIO, advance: Any) -> None:
        self._raw = raw
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._advance(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def fileno(self) -> int:
        return self._raw.fileno()


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
