"""The minimum release age benchmark, run by hand (not a test): the simple page of a mirror with
``min_release_age`` set beside the same page of a mirror without it.

One pyshelf server holds two mirrors of the same loopback upstream (a PEP 691 JSON page of one
project with ``--files`` files, upload times spread over the last 400 days, so about 2 % are
younger than the 7 days set on ``root/aged``; ``root/plain`` has no rule). Measured, for each:

- ``cached c1 / c16``: wrk on the page once it is cached (what installers meet nearly always);
- ``rebuild``: the page built again from the stored upstream links, timed one request at a
  time after a change of the layout (a no-op ``title`` change, which drops every cached page);
  the median of ``--rebuilds`` requests, the PATCH itself not counted.

    .venv/bin/python bench/lifecycle.py [--files 3000] [--repeat 3] [--duration 5]

Everything listens on 127.0.0.1 only. Results go to stdout and bench/results/lifecycle-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from load import run_wrk  # noqa: E402
from ops import PyshelfWith  # noqa: E402
from servers import ROOT_PASSWORD  # noqa: E402

PROJECT = "agebench"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def upstream_page(files: int, now: datetime.datetime) -> bytes:
    entries = []
    for i in range(files):
        filename = f"{PROJECT}-{i // 2}.{i % 2}-py3-none-any.whl"
        uploaded = now - datetime.timedelta(days=400 * (files - i) / files)
        entries.append({
            "filename": filename,
            "url": f"../../files/{filename}",
            "hashes": {"sha256": hashlib.sha256(filename.encode()).hexdigest()},
            "requires-python": ">=3.9",
            "size": 1000 + i,
            "upload-time": uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        })  # fmt: skip
    return json.dumps({"meta": {"api-version": "1.1"}, "name": PROJECT, "files": entries}).encode()


def serve_upstream(page: bytes) -> ThreadingHTTPServer:
    listing = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": PROJECT}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page if self.path.rstrip("/").endswith(PROJECT) else listing
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rebuilds", type=int, default=30)
    args = parser.parse_args()

    upstream = serve_upstream(upstream_page(args.files, datetime.datetime.now(datetime.UTC)))
    upstream_url = f"http://127.0.0.1:{upstream.server_address[1]}/simple/"
    workdir = Path(tempfile.mkdtemp(prefix="pyshelf-lifecycle-"))
    server = PyshelfWith(workdir, "lifecycle", [])
    server.init()
    server.start()
    auth = ("root", ROOT_PASSWORD)
    results: dict = {}
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=120) as client:
            for name, extra in (("plain", {}), ("aged", {"min_release_age": "7d"})):
                options = {"type": "mirror", "mirror_url": upstream_url,
                           "mirror_no_project_list": True, **extra}  # fmt: skip
                client.put(f"/root/{name}", json=options).raise_for_status()
            pages = {name: f"/root/{name}/+simple/{PROJECT}/" for name in ("plain", "aged")}
            shown = {}
            for name, path in pages.items():
                page = client.get(path, headers={"Accept": JSON_TYPE})
                page.raise_for_status()
                shown[name] = len(page.json()["files"])
            results = {name: {"files": shown[name], "c1": [], "c16": [], "rebuild_ms": []}
                       for name in pages}  # fmt: skip
            for repetition in range(args.repeat):
                order = list(pages.items())[:: 1 if repetition % 2 == 0 else -1]
                for connections in (1, 16):
                    for name, path in order:
                        load = run_wrk(server.url + path, connections=connections,
                                       duration=args.duration, headers={"Accept": JSON_TYPE})
                        results[name][f"c{connections}"].append(load.rps)
                for name, path in order:
                    for i in range(args.rebuilds):
                        client.patch(f"/root/{name}", json=[f"title=t{repetition}-{i}"])
                        started = time.perf_counter()
                        client.get(path, headers={"Accept": JSON_TYPE}).raise_for_status()
                        results[name]["rebuild_ms"].append((time.perf_counter() - started) * 1e3)
    finally:
        server.stop()
        upstream.shutdown()
    summary = {name: {key: statistics.median(values) for key, values in data.items()
                      if isinstance(values, list)} | {"files": data["files"]}
               for name, data in results.items()}  # fmt: skip
    print(f"{'page':<8} {'files':>6} {'c1 req/s':>10} {'c16 req/s':>10} {'rebuild ms':>11}")
    for name, data in summary.items():
        print(f"{name:<8} {data['files']:>6} {data['c1']:>10.0f} {data['c16']:>10.0f} "
              f"{data['rebuild_ms']:>11.1f}")  # fmt: skip
    plain, aged = summary["plain"], summary["aged"]
    print(f"aged/plain: c1 {aged['c1'] / plain['c1']:.2f}, c16 {aged['c16'] / plain['c16']:.2f}, "
          f"rebuild {aged['rebuild_ms'] / plain['rebuild_ms']:.2f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"lifecycle-{stamp}.json").write_text(
        json.dumps({"args": vars(args), "samples": results, "median": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
