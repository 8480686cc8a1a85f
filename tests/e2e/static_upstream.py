"""A real upstream for mirror tests: a static PEP 503 tree served over HTTP on loopback, in a
thread of the test process, optionally slow to answer project pages."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name


class _Handler(SimpleHTTPRequestHandler):
    delay = 0.0
    json_pages = False
    requests: list[str]

    def guess_type(self, path: Any) -> str:
        if self.json_pages and str(path).endswith("index.html"):
            return "application/vnd.pypi.simple.v1+json"
        return super().guess_type(path)

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
    simple index URL (``http://127.0.0.1:PORT/simple/``). With ``upload_times`` (file name to
    PEP 700 time) the project pages are PEP 691 JSON, with ``extra`` (file name to more keys of
    its JSON entry) added."""

    def __init__(
        self,
        root: Path,
        projects: dict[str, list[tuple[str, bytes]]],
        *,
        delay: float = 0.0,
        upload_times: dict[str, str] | None = None,
        extra: dict[str, dict[str, Any]] | None = None,
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
            entries = []
            for filename, content in files:
                (root / "files" / filename).write_bytes(content)
                digest = hashlib.sha256(content).hexdigest()
                anchors.append(f'<a href="../../files/{filename}#sha256={digest}">{filename}</a>')
                entries.append({"filename": filename, "url": f"../../files/{filename}",
                                "hashes": {"sha256": digest}, "size": len(content),
                                **({"upload-time": upload_times[filename]}
                                   if upload_times and filename in upload_times else {}),
                                **(extra or {}).get(filename, {})})  # fmt: skip
            (simple / name).mkdir(exist_ok=True)
            page = (
                json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": entries})
                if upload_times is not None
                else _page(anchors)
            )
            (simple / name / "index.html").write_text(page)
        listing = (
            json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
            if upload_times is not None
            else _page(f'<a href="{n}/">{n}</a>' for n in names)
        )
        (simple / "index.html").write_text(listing)
        self.requests: list[str] = []
        handler = type(
            "Handler",
            (_Handler,),
            {"delay": delay, "requests": self.requests, "json_pages": upload_times is not None},
        )
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
