"""The background indexer: the one thread that writes the search index.

Requests never touch Whoosh for writing. The server's hooks (upload, docs, push, remove) fire
after their transaction committed and only *queue* the project concerned; this thread reads the
project's committed state and replaces its documents. Queued work is coalesced (ten uploads
of one project are one update).

The indexer reads through the server's plugin API (``open_reader``), one read transaction per
batch.

Other server processes on the same database change projects whose hooks never run here. So the
indexer also watches the server's serial and, when it moved, compares every project's change
token (``ShelfReader.project_tokens``) with the one stored in its document, and queues those that
differ (:meth:`Indexer.reconcile`): each process's search index follows every process's changes
within a few seconds, and one that was down catches up when it starts.

A marker file is present while work is queued or running, so a server that died with work
pending rebuilds the index at its next start instead of silently missing updates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyshelf_server.plugin_api import (
    IndexInfo,
    ShelfReader,
    open_reader,
    release_free_memory,
    server_serial,
)

from ..description import rendered_text
from ..docs import DocsError, DocStore, pages
from ..versions import newest_first, preferred
from .whoosh_index import MAX_DESCRIPTION, SearchIndex, joined_name, project_key

log = logging.getLogger(__name__)

REBUILD = ("rebuild",)
# At server start: open the search index here rather than in the starting thread (it imports
# Whoosh), then rebuild when it is new, its schema changed, or a previous run left work pending.
OPEN = ("open",)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def project_document(
    index_name: str, project: str, versions: dict[str, dict[str, Any]], docs: str | None
) -> dict[str, Any] | None:
    if not versions:
        return None
    chosen = preferred(versions) or next(iter(versions))
    meta = versions[chosen]
    name = _text(meta.get("name")) or project
    return {
        "key": project_key(index_name, project),
        "type": "project",
        "index": index_name,
        "project": project,
        "joined": joined_name(name),
        "name": name,
        "summary": _text(meta.get("summary"))[:2000],
        # What readers see, not the markup: "**hello**" is the word "hello".
        "description": rendered_text(
            _text(meta.get("description"))[:MAX_DESCRIPTION],
            _text(meta.get("description_content_type")),
        ),
        "keywords": _text(meta.get("keywords"))[:2000],
        "version": chosen,
        "docs": docs or "",
    }


def mirror_document(index_name: str, project: str, display: str) -> dict[str, Any]:
    return {
        "key": project_key(index_name, project),
        "type": "project",
        "index": index_name,
        "project": project,
        "joined": joined_name(display),
        "name": display,
        "version": "",
        "docs": "",
    }


class Indexer:
    def __init__(
        self,
        *,
        registry: Any,
        search: SearchIndex,
        docs: DocStore,
        marker: Path,
        batch_delay: float = 1.0,
        max_batch_delay: float = 10.0,
    ) -> None:
        self.registry = registry
        # How long to gather tasks before indexing them: a burst of uploads then costs one
        # Whoosh commit (a new segment, sometimes a merge) instead of one each, which halved
        # upload throughput while the indexer competed for the interpreter.
        self.batch_delay = batch_delay
        # While tasks keep coming (a team pushing a release, a bulk import) the batch grows
        # until a quiet batch_delay, or until it is this old: every project of the burst is
        # indexed once, and search is never more than this far behind.
        self.max_batch_delay = max(max_batch_delay, batch_delay)
        self._last_queued = 0.0
        self.search = search
        self.docs = docs
        self.marker = marker
        # An ordered set: tasks are ("project", index, name), ("index", index) or REBUILD.
        self._pending: dict[tuple[str, ...], None] = {}
        self._busy = False
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.errors = 0
        # After a failure the marker stays, so the next start rebuilds what may be missing.
        self.failed = False
        self.last_error: str | None = None
        self.last_run: float | None = None
        self._interrupted_at_open = False
        # Change tokens of projects indexed without a document (no versions): not in the
        # search index, so remembered here.
        self._without_document: dict[tuple[str, str], str] = {}
        self._watcher: threading.Thread | None = None
        self._watched_serial: int | None = None

    # -- queueing (any thread) -------------------------------------------------------------

    def queue_project(self, index_name: str, project: str) -> None:
        self._queue(("project", index_name, project))

    def queue_index(self, index_name: str) -> None:
        """Re-read a whole index, or drop it from the search index when it no longer exists."""
        self._queue(("index", index_name))

    def queue_rebuild(self) -> None:
        self._queue(REBUILD)

    def queue_open(self) -> None:
        """Open the search index in this thread after the batch delay, and rebuild it if need
        be (see ``OPEN``): the server answers meanwhile, searches open the index themselves."""
        self._interrupted_at_open = self.interrupted
        self._queue(OPEN, dirty=False)

    def _queue(self, task: tuple[str, ...], *, dirty: bool = True) -> None:
        with self._cond:
            if dirty and not self._pending and not self._busy:
                self._mark_dirty(True)
            self._pending[task] = None
            self._last_queued = time.monotonic()
            self._cond.notify_all()
        self.start()

    @property
    def queue_size(self) -> int:
        with self._cond:
            return len(self._pending) + (1 if self._busy else 0)

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(
                target=self._run, name="pyshelf-web-indexer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the work queued so far, then end the threads."""
        self.wait_idle(timeout)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    # -- following other processes' changes ----------------------------------------------------

    def watch(self, interval: float = 2.0) -> None:
        """Reconcile whenever the server's serial moved, checking every ``interval`` s."""
        self._watcher = threading.Thread(
            target=self._watch, args=(interval,), name="pyshelf-web-reconcile", daemon=True
        )
        self._watcher.start()

    def _watch(self, interval: float) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._cond.wait(interval)
                if self._stopped:
                    return
            try:
                self.reconcile_if_changed()
            except Exception:  # the next round tries again
                log.exception("comparing the search index with the database failed")

    def reconcile_if_changed(self) -> int:
        serial = server_serial(self.registry)
        if serial == self._watched_serial or not self.search.opened:
            return 0
        queued = self.reconcile()
        self._watched_serial = serial
        return queued

    def reconcile(self) -> int:
        """Queue every project whose change token differs from the one its document was
        written with, and every document whose project is gone; returns how many."""
        with open_reader(self.registry) as shelf:
            tokens = shelf.project_tokens()
        stored = self.search.stored_changes()
        queued = 0
        for key, token in tokens.items():
            if stored.get(key, self._without_document.get(key)) != token:
                self.queue_project(*key)
                queued += 1
        for key in stored.keys() - tokens.keys():
            self.queue_project(*key)
            queued += 1
        for key in self._without_document.keys() - tokens.keys():
            del self._without_document[key]
        return queued

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped and not self._pending:
                    return
                oldest = time.monotonic() + self.max_batch_delay
                while not self._stopped:
                    deadline = min(self._last_queued + self.batch_delay, oldest)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = list(self._pending)
                self._pending.clear()
                self._busy = True
            try:
                self.process(batch)
            except Exception as error:  # keep the thread alive; the marker forces a rebuild
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("search indexing failed")
                self.failed = True
            finally:
                # A batch can still hold a lot for a moment (a rebuild, a docs zip's pages,
                # Whoosh merging segments): the freed blocks would stay resident in this
                # thread's malloc arena.
                release_free_memory()
                with self._cond:
                    self._busy = False
                    if not self._pending and not self.failed:
                        self._mark_dirty(False)
                    self._cond.notify_all()

    def _mark_dirty(self, dirty: bool) -> None:
        try:
            if dirty:
                self.marker.parent.mkdir(parents=True, exist_ok=True)
                self.marker.touch()
            else:
                self.marker.unlink(missing_ok=True)
        except OSError:
            log.warning("cannot update %s", self.marker)

    @property
    def interrupted(self) -> bool:
        """Whether a previous run stopped with work pending."""
        return self.marker.exists()

    # -- the work (indexer thread, or synchronously for --recreate-search-index) ---------------

    def process(self, batch: Iterable[tuple[str, ...]]) -> None:
        batch = list(batch)
        if OPEN in batch:
            batch.remove(OPEN)
            self.search.ix  # noqa: B018  (opens the index, recreating it when unusable)
            if self.search.needs_rebuild or self._interrupted_at_open:
                self._mark_dirty(True)
                batch.append(REBUILD)
            if not batch:
                return
        with open_reader(self.registry) as shelf:
            # Read before the projects: a change landing in between leaves an older token on a
            # newer document, which the next reconcile merely indexes again.
            tokens = shelf.project_tokens()
            writer = self.search.writer()
            try:
                if REBUILD in batch:
                    self._rebuild(writer, shelf, tokens)
                else:
                    for task in batch:
                        if task[0] == "project":
                            self._index_project(writer, shelf, tokens, task[1], task[2])
                        elif task[0] == "index":
                            self._index_whole(writer, shelf, tokens, task[1])
            except BaseException:
                writer.cancel()
                raise
            self.search.commit(writer, replace_all=REBUILD in batch)
        self.search.needs_rebuild = False
        self.last_run = time.time()

    def _rebuild(self, writer: Any, shelf: ShelfReader, tokens: dict[Any, str]) -> None:
        for info in shelf.indexes():
            for name in shelf.own_projects(info):
                self._index_project(writer, shelf, tokens, info.fullname, name, rebuilding=True)

    def _index_whole(
        self, writer: Any, shelf: ShelfReader, tokens: dict[Any, str], index_name: str
    ) -> None:
        SearchIndex.remove_index(writer, index_name)
        info = shelf.index(index_name)
        if info is None:
            return
        for name in shelf.own_projects(info):
            self._index_project(writer, shelf, tokens, index_name, name, rebuilding=True)

    def _index_project(
        self,
        writer: Any,
        shelf: ShelfReader,
        tokens: dict[Any, str],
        index_name: str,
        project: str,
        *,
        rebuilding: bool = False,
    ) -> None:
        info = shelf.index(index_name)
        if info is None:
            SearchIndex.remove_index(writer, index_name)
            return
        token = tokens.get((index_name, project))
        if info.is_mirror:
            # Mirrored projects are indexed by name only, from the cached page: asking for
            # versions could make the mirror revalidate the page upstream.
            display = shelf.display_name(info, project)
            doc = mirror_document(index_name, project, display) if display else None
            self._remember_token(doc, index_name, project, token)
            SearchIndex.write_project(writer, index_name, project, doc, None if doc else [])
            return
        versions, docs = described_version(shelf, info, project)
        previous = None if rebuilding else self.search.stored_docs(index_name, project)
        doc = project_document(index_name, project, versions, docs)
        self._remember_token(doc, index_name, project, token)
        page_list = None
        if doc is not None and (rebuilding or docs != previous):
            page_list = self._pages(shelf, docs) if docs else []
        SearchIndex.write_project(writer, index_name, project, doc, page_list)
        if previous and previous != docs and not shelf.file_in_use(previous):
            # An unpacked docs tree no stored docs zip refers to any more.
            self.docs.remove(previous)

    def _remember_token(
        self, doc: dict[str, Any] | None, index_name: str, project: str, token: str | None
    ) -> None:
        if doc is not None:
            doc["change"] = token or ""
            self._without_document.pop((index_name, project), None)
        elif token is not None:
            self._without_document[index_name, project] = token

    def _pages(self, shelf: ShelfReader, sha256: str) -> list[Any]:
        try:
            directory = self.docs.ensure(sha256, lambda: shelf.open_file(sha256))
        except (DocsError, OSError) as error:
            log.warning("cannot unpack docs %s: %s", sha256, error)
            return []
        return list(pages(directory))


def described_version(
    shelf: ShelfReader, stage: IndexInfo, project: str
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """({version: versiondata} of the version the search document describes, or {} when the
    project has none; the sha256 of its newest docs zip, if any).

    ``project_summary`` reads a hosted project without building every version's data: for a
    project of 3,000 versions that was ~30 MB of small objects for a moment, and as request
    threads allocate meanwhile, most of it stayed resident for good (Python's arenas, pinned
    by a few live objects each, which neither the collector nor malloc_trim gives back).
    """
    summary = shelf.project_summary(stage, project, preferred)
    if summary is None:
        return {}, None
    docs = next((summary.doc_zips[v] for v in newest_first(summary.doc_zips)), None)
    return {summary.version: summary.data}, docs
