"""How many uploads are worked on at once.

An upload is almost all Python work (reading the form, the file's metadata, recording it) under
the one interpreter lock, so a second core cannot run two of them at once; it can only overlap
one upload's fsyncs and database waits with another's Python. Eight uploads let in at once
spent most of their extra time handing the lock to each other: ~430 futex calls and ~100 thread
switches per upload against ~20 with two let in, and a third more CPU per file for fewer files
per second (measured in bench/README.md, "Uploads in the sixth session").

So a multipart POST waits here until fewer than ``limit`` are being worked on. It holds nothing
while it waits: waitress has read the whole body before it hands a request to a worker thread,
so a slow client cannot keep the gate shut. Everything else passes straight through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


class UploadGate:
    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit
        # Callers (the command line, tests) reach the Pyramid registry through the app.
        self.registry = getattr(app, "registry", None)
        self._slots = threading.BoundedSemaphore(limit) if limit > 0 else None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self._slots is None or not _is_upload(environ):
            return self.app(environ, start_response)
        with self._slots:
            answer = self.app(environ, start_response)
            # An upload's answer is a few bytes made in full by now; reading it inside the gate
            # keeps any work a lazy body might still do inside too.
            try:
                return [b"".join(answer)]
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()


def _is_upload(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and environ.get(
        "CONTENT_TYPE", ""
    ).lower().startswith("multipart/form-data")
