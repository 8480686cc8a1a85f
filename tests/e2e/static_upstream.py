"""A real upstream for mirror tests: a static PEP 503 tree served over HTTP on loopback, in a
thread of the test process, optionally slow to answer project pages."""

from __future__ import annotations

import hashlib
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name


class _Handler(SimpleHTTPRequestHandler):
    delay = 0.0
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        parts = [p for p in self.path.split("/") if p]
        if self.delay and len(parts) == 2 and parts[0] == "simple":
            time.sleep(self.delay)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticIndex:
    """``StaticIndex(root, {"project": [(filename, content), …]}, delay=…)``: ``url`` is the
    simple index URL (``http://127.0.0.1:PORT/simple/``)."""

    def __init__(
        self, root: Path, projects: dict[str, list[tuple[str, bytes]]], *, delay: float = 0.0
    ) -> None:
        self.root = root
        (root / "files").mkdir(parents=True, exist_ok=True)
        simple = root / "simple"
        simple.mkdir(exist_ok=True)
        names = []
        for project, files in projects.items():
            name = canonicalize_name(project)
            names.append(name)
            anchors = []
            for filename, content in files:
                (root / "files" / filename).write_bytes(content)
                digest = hashlib.sha256(content).hexdigest()
                anchors.append(f'<a href="../../files/{filename}#sha256={digest}">{filename}</a>')
            (simple / name).mkdir(exist_ok=True)
            (simple / name / "index.html").write_text(_page(anchors))
        (simple / "index.html").write_text(_page(f'<a href="{n}/">{n}</a>' for n in names))
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"delay": delay, "requests": self.requests})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _page(anchors: Any) -> str:
    return "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
