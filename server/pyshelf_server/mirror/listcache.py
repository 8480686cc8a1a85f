"""The cached project list of one mirror: fetched once, stored as a blob, refreshed in the
background once the mirror is quiet after it expires, and what to serve when upstream fails."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import finish
from ..leases import THIS_PROCESS, claim, release
from ..storage.references import collect_blob
from .listparse import BuiltList, ListBuildError, ListContentError, build_list
from .models import MirrorState
from .options import MirrorPart
from .projectlist import NameList
from .runtime import RETRY_DELAY
from .upstream import (
    NotModified,
    ProjectList,
    UpstreamContentError,
    UpstreamError,
    UpstreamUnavailable,
    safe_url,
)

log = logging.getLogger(__name__)

# Longer than fetching and parsing a list of millions of names takes; a process that dies while
# holding the lease delays the others' refresh by at most this.
LIST_LEASE_SECONDS = 900.0


class MirrorProjectList(MirrorPart):
    def names(self, session: Session, *, wait: bool) -> NameList | None:
        """Upstream's project list as last fetched. When it is missing and ``wait`` is true,
        fetch it now (raising :class:`UpstreamError` on failure); when it is missing or
        expired otherwise, fetch it in the background once the mirror is quiet (see
        ``runtime.LIST_QUIET``) and answer with what there is."""
        if self.index.options.get("mirror_no_project_list"):
            return None
        state = session.get(MirrorState, self.index.id)
        loaded = None
        if state is not None and state.list_sha256:
            loaded = self.runtime.name_list(self.index.id, state.list_sha256, state.list_count)
        if self.offline:
            return loaded
        expired = state is None or time.time() >= (state.list_checked or 0) + self.expiry
        if loaded is None and wait:
            failure = self.runtime.failures.get((self.index.id, "+list"))
            if failure is not None:
                raise UpstreamUnavailable(failure)
            with self.runtime.places.held(self.mirror_url):
                return self.runtime.flight.run(("list", self.index.id), self.refresh_list)
        if (loaded is None or expired) and not self.runtime.failures.get((self.index.id, "+list")):
            self._refresh_list_in_background()
        return loaded

    def _refresh_list_in_background(self) -> None:
        key = ("list", self.index.id)
        if self.runtime.flight.running(key):
            return

        # Server processes sharing the database take turns: one fetches, the others find the
        # list fresh when they look next.
        lease = f"mirror-list:{self.index.id}"

        def work() -> None:
            try:
                if self._list_is_due() and claim(
                    self.app.engine, lease, THIS_PROCESS, LIST_LEASE_SECONDS
                ):
                    try:
                        self.runtime.flight.run(key, self.refresh_list)
                    finally:
                        release(self.app.engine, lease, THIS_PROCESS)
            except UpstreamError:
                pass  # already logged and remembered
            except Exception:
                log.exception("%s: refreshing the project list failed", self.index.fullname)

        self.runtime.when_quiet(key, self.index.id, work)

    def _list_is_due(self) -> bool:
        """Whether the list is still missing or expired (a listing may have fetched it
        meanwhile) and upstream has not failed lately."""
        if self.runtime.failures.get((self.index.id, "+list")):
            return False
        session = self.app.sessions()
        try:
            state = session.get(MirrorState, self.index.id)
            if state is None or not state.list_sha256:
                return True
            return time.time() >= (state.list_checked or 0) + self.expiry
        finally:
            session.close()

    def refresh_list(self) -> NameList | None:
        """Fetch upstream's project list and store it as a blob (replacing the old one).

        The body goes to a temporary file and is parsed by a child process (``listparse``), so
        the server's own memory never holds the list: it is read from the stored blob through
        a memory map (``projectlist``)."""
        session = self.app.sessions()
        try:
            state = session.get(MirrorState, self.index.id)
            etag = state.list_etag if state is not None and state.list_sha256 else None
            old_sha = state.list_sha256 if state is not None else None
        finally:
            session.close()
        files = self.app.files
        body = files.temporary(prefix="list-body-")
        encoded: Path | None = files.temporary(prefix="list-")
        try:
            try:
                answer = self.runtime.upstream.fetch_list(self.mirror_url, body, etag=etag)
                built = None
                if isinstance(answer, ProjectList):
                    built = self._build_list(answer, encoded)
            except UpstreamError as error:
                log.warning("%s: project list: %s", self.index.fullname, error)
                self.runtime.failures.put((self.index.id, "+list"), str(error), RETRY_DELAY)
                raise
            finally:
                body.unlink(missing_ok=True)
            now = time.time()
            if isinstance(answer, NotModified) and old_sha:
                self._store_list_state(old_sha, None, now, etag, answer.serial)
                return self.runtime.name_list(self.index.id, old_sha)
            if isinstance(answer, NotModified) or built is None:
                raise UpstreamError(f"upstream {safe_url(self.mirror_url)} answered 304 unasked")
            blob = files.adopt(encoded, sha256=built.sha256, size=built.size)
            encoded = None
            self._store_list_state(
                blob.sha256, built.count, now, answer.etag, answer.serial, old_sha=old_sha
            )
        finally:
            if encoded is not None:
                encoded.unlink(missing_ok=True)
        return self.runtime.name_list(self.index.id, blob.sha256, count=built.count)

    def _build_list(self, answer: ProjectList, encoded: Path) -> BuiltList:
        """Parse the downloaded list in a child process, which writes its blob to ``encoded``."""
        started = time.monotonic()
        try:
            built = build_list(answer.path, encoded, answer.content_type)
        except ListContentError as error:
            raise UpstreamContentError(f"{error} ({safe_url(self.mirror_url)})") from None
        except ListBuildError as error:
            raise UpstreamError(
                f"the project list of {safe_url(self.mirror_url)} was not stored: {error}"
            ) from None
        log.info(
            "%s: project list of %d names (%d bytes received) parsed in %.1fs",
            self.index.fullname,
            built.count,
            answer.size,
            time.monotonic() - started,
        )
        return built

    def _store_list_state(
        self,
        sha256: str,
        count: int | None,
        checked: float,
        etag: str | None,
        serial: int | None,
        old_sha: str | None = None,
    ) -> None:
        session = self.app.sessions(write=True)
        try:
            state = session.get(MirrorState, self.index.id)
            if state is None:
                state = MirrorState(index_id=self.index.id)
                session.add(state)
            state.list_sha256 = sha256
            if count is not None:
                state.list_count = count
            state.list_checked = checked
            state.list_etag = (etag or "")[:400] or None
            state.list_serial = serial
            session.flush()
            if old_sha and old_sha != sha256:
                collect_blob(session, self.app.files, old_sha)
            if old_sha == sha256:
                # Only a changed list is a change clients see (stage listings include it).
                session.info["wrote"] = False
        except BaseException:
            finish(session, commit=False)
            raise
        try:
            finish(session, commit=True)
        except IntegrityError:
            log.warning("%s: project list state not stored (index deleted?)", self.index.fullname)
