"""The ceiling of the simple page: saved pages served as bytes by a WSGI app that does nothing
else, in pyshelf's waitress configuration (``pyshelf_server.wsgiserver.make_server``, the same
thread count). Whatever pyshelf does beyond this costs req/s against this reference; what this
reference cannot do, no app on that server can.

Run by ``servers.WaitressReference``: ``python reference_app.py ROOT PORT THREADS``, serving
``ROOT/<path>/index.html`` at ``/<path>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pyshelf_server.wsgiserver import make_server


def load_pages(root: Path) -> dict[str, bytes]:
    return {
        "/" + str(page.parent.relative_to(root)).strip(".") + "/": page.read_bytes()
        for page in root.rglob("index.html")
    }


def make_app(pages: dict[str, bytes]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        body = b"" if path == "/" else pages.get(path)  # "/": the harness's ready probe
        if body is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app


def main() -> None:
    root, port, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    server = make_server(make_app(load_pages(root)), host="127.0.0.1", port=port, threads=threads)
    server.run()


if __name__ == "__main__":
    main()
