"""Documentation zips: unpacked safely once, looked up by path, and read as text for search.

A docs zip is stored by the core as a blob (``File`` row with rel ``doczip``). It is unpacked
into ``<docs root>/<sha256[:2]>/<sha256>/``: keyed by content, so unpacking is idempotent, two
indexes holding the same zip share one copy, and nothing of a user's or project's name ever
becomes part of a file system path.

Unpacking trusts nothing in the zip: member names that are absolute, contain ``..``, a drive or
a backslash are skipped, symlinks and other special files are skipped, files are written
without execute bits, and the number of members, each member's size and the total size are
limited while the bytes are written (the sizes in the zip's directory may lie).

A zip refused for a limit is remembered next to where it would have been unpacked
(``<sha256>.refused``, with the limits it was refused under): unpacking a bomb costs disk writes
up to the limit, and an anonymous reader must not be able to make the server pay that again on
every view. The refusal belongs to the blob, so a different upload is tried afresh, and a
change of the limits tries the same blob again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import BinaryIO

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


class DocsError(Exception):
    """The zip cannot be unpacked (not a zip, or over a limit); the message says why.
    ``lasting`` says whether the zip itself is the reason (a full disk is not)."""

    def __init__(self, message: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


@dataclass(frozen=True)
class DocsLimits:
    max_total_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 50 * 1024 * 1024
    max_members: int = 20_000


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path a zip member may be written to, or None when it must be skipped."""
    if not name or "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts if part):
        return None
    parts = [part for part in path.parts if part]
    if not parts or ":" in parts[0]:
        # "C:foo" would name a drive on Windows; there is no reason to accept it anywhere.
        return None
    return PurePosixPath(*parts)


def _is_special(info: zipfile.ZipInfo) -> bool:
    """Symlinks, devices and the like, as recorded by Unix zip tools in the high bits."""
    mode = info.external_attr >> 16
    # Many tools record only permission bits (no file type): those are regular files.
    return bool(stat.S_IFMT(mode)) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class DocStore:
    def __init__(self, root: Path, *, limits: DocsLimits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or DocsLimits()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def directory(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def is_unpacked(self, sha256: str) -> bool:
        return self.directory(sha256).is_dir()

    def _refusal_path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.refused"

    def _refusal(self, sha256: str) -> str | None:
        """Why the zip was refused under the current limits, or None."""
        try:
            record = json.loads(self._refusal_path(sha256).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("limits") != asdict(self.limits):
            return None
        reason = record.get("reason")
        return reason if isinstance(reason, str) else None

    def _remember_refusal(self, sha256: str, reason: str) -> None:
        path = self._refusal_path(sha256)
        record = json.dumps({"limits": asdict(self.limits), "reason": reason})
        try:
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, prefix=".refused-", delete=False
            ) as temporary:
                temporary.write(record)
            os.replace(temporary.name, path)
        except OSError:
            log.warning("could not remember the refusal of docs %s", sha256, exc_info=True)

    def _lock(self, sha256: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(sha256, threading.Lock())

    def ensure(self, sha256: str, open_zip: Callable[[], BinaryIO]) -> Path:
        """The unpacked directory of the zip with ``sha256``, unpacking it first if needed
        (``open_zip`` opens the zip, seekable, only then)."""
        target = self.directory(sha256)
        if target.is_dir():
            return target
        with self._lock(sha256):
            if target.is_dir():
                return target
            refused = self._refusal(sha256)
            if refused is not None:
                raise DocsError(refused)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Unpack next to the target and rename: a reader never sees half a tree, and a
            # crash leaves only a temporary directory, removed by the next attempt's cleanup.
            work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
            try:
                self._unpack(open_zip, work)
                os.replace(work, target)
                self._refusal_path(sha256).unlink(missing_ok=True)
            except DocsError as error:
                shutil.rmtree(work, ignore_errors=True)
                if error.lasting:
                    self._remember_refusal(sha256, str(error))
                raise
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
        with self._locks_guard:
            self._locks.pop(sha256, None)
        return target

    def _unpack(self, open_zip: Callable[[], BinaryIO], into: Path) -> None:
        try:
            source = open_zip()
        except OSError as error:
            raise DocsError(f"the zip could not be read: {error}", lasting=False) from None
        with source:
            self._unpack_from(source, into)

    def _unpack_from(self, source: BinaryIO, into: Path) -> None:
        limits = self.limits
        try:
            archive = zipfile.ZipFile(source)
        except zipfile.BadZipFile as error:
            raise DocsError(f"not a readable zip file: {error}") from None
        except OSError as error:
            raise DocsError(f"the zip could not be read: {error}", lasting=False) from None
        total = 0
        with archive:
            members = archive.infolist()
            if len(members) > limits.max_members:
                raise DocsError(f"the zip has more than {limits.max_members} members")
            for info in members:
                relative = safe_member_path(info.filename)
                if relative is None or _is_special(info):
                    log.warning("skipping unsafe docs member %r", info.filename)
                    continue
                destination = into.joinpath(*relative.parts)
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                if destination.is_dir():
                    continue
                written = 0
                try:
                    with archive.open(info) as source, open(destination, "wb") as sink:
                        while chunk := source.read(CHUNK):
                            written += len(chunk)
                            total += len(chunk)
                            if written > limits.max_file_bytes:
                                raise DocsError(
                                    f"{relative} is larger than {limits.max_file_bytes} bytes"
                                )
                            if total > limits.max_total_bytes:
                                raise DocsError(
                                    f"the docs are larger than {limits.max_total_bytes} bytes"
                                )
                            sink.write(chunk)
                except (zipfile.BadZipFile, EOFError, NotImplementedError) as error:
                    raise DocsError(f"cannot unpack {relative}: {error}") from None
                except OSError as error:
                    raise DocsError(f"cannot unpack {relative}: {error}", lasting=False) from None
                os.chmod(destination, 0o644)

    def resolve(self, directory: Path, path: str) -> Path | None:
        """The file at ``path`` inside the unpacked ``directory``, or None.

        Directories answer with their ``index.html``. The real path must stay inside the tree,
        which also guards against links someone placed there by hand.
        """
        relative = safe_member_path(path.strip("/")) if path.strip("/") else PurePosixPath()
        if relative is None:
            return None
        candidate = directory.joinpath(*relative.parts)
        if candidate.is_dir():
            candidate = candidate / "index.html"
        try:
            real = candidate.resolve(strict=True)
            base = directory.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(base) or not real.is_file():
            return None
        return real

    def remove(self, sha256: str) -> None:
        shutil.rmtree(self.directory(sha256), ignore_errors=True)
        self._refusal_path(sha256).unlink(missing_ok=True)

    def size(self) -> int:
        total = 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    continue
        return total


# -- text for search -----------------------------------------------------------------------

MAX_PAGES = 2_000
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_PAGE_TEXT = 50_000


@dataclass(frozen=True)
class DocPage:
    path: str
    title: str
    text: str


class _TextExtractor(HTMLParser):
    """Visible text and the title of an HTML page; scripts, styles and navigation left out."""

    SKIP = frozenset({"script", "style", "noscript", "template", "nav", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.parts: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(data)


def page_text(html: str) -> tuple[str, str]:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but hostile input must never stop indexing
        log.debug("could not parse a docs page", exc_info=True)
    text = " ".join(" ".join(parser.parts).split())
    return " ".join(parser.title.split()), text[:MAX_PAGE_TEXT]


def pages(directory: Path) -> Iterator[DocPage]:
    """The HTML pages of an unpacked docs tree, as text, in a stable order."""
    found = 0
    base = directory.resolve()
    for path in sorted(base.rglob("*.htm*")):
        if path.suffix.lower() not in (".html", ".htm") or path.is_symlink() or not path.is_file():
            continue
        if found >= MAX_PAGES:
            break
        found += 1
        try:
            with open(path, "rb") as source:
                raw = source.read(MAX_PAGE_BYTES)
        except OSError:
            continue
        title, text = page_text(raw.decode("utf-8", "replace"))
        relative = path.relative_to(base).as_posix()
        yield DocPage(path=relative, title=title or relative, text=text)
