"""The web plugin's benchmark, run by hand: ``.venv/bin/python bench/web.py [--minutes 10]``.

Two parts, on one fresh server directory made by ``pyshelf-init`` (which creates the
``root/pypi`` mirror), with every plugin of ``.venv`` installed (the web plugin among them):

1. **The first minutes.** The server starts; we note when ``/+search`` first answers a page
   ("search ready"), ask the mirror for its project list once as an installer would (that is
   what makes devpi-web index the whole list), then sample the server's CPU and resident memory
   every few seconds for ``--minutes``. Target: search ready within seconds, under 150 MB.
2. **An index of ``--projects`` projects.** Uploads that many small wheels (each with a
   summary and a Markdown description) to ``bench/web``, waits until the search index holds
   them all, then times a version page, the index page, and searches (by exact name, by a
   summary word, by a word that matches nothing).

Results go to ``bench/results/web-<time>.json`` and a short table to stdout. Like the rest of
``bench/``, this asserts nothing and is not part of ``make test``. Only 127.0.0.1 is spoken to
(the mirror's own upstream aside, which the server contacts as configured).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from servers import ROOT_PASSWORD, Pyshelf, rss_kb  # noqa: E402
from workload import multipart  # noqa: E402

BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "User-Agent": "bench"}
TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the idle soak")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--projects", type=int, default=2000, help="projects in the index")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument(
        "--no-mirror-list", action="store_true", help="do not ask the mirror for its project list"
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


class Client:
    """A keep-alive HTTP/1.1 client on the loopback (the stdlib's, so we add no weight)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        token = base64.b64encode(f"root:{ROOT_PASSWORD}".encode()).decode()
        self.auth = {"Authorization": f"Basic {token}"}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def timed(self, path: str, headers: dict[str, str], repeat: int) -> dict[str, float]:
        status, _ = self.request("GET", path, headers=headers)  # warm caches first
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            status, _ = self.request("GET", path, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
        times.sort()
        return {
            "median_ms": statistics.median(times),
            "p95_ms": times[min(len(times) - 1, int(len(times) * 0.95))],
            "max_ms": times[-1],
            "n": repeat,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (threads included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wheel_upload(name: str, version: str, index: int) -> tuple[bytes, str]:
    from pyshelf_server.testing import make_wheel

    words = ["dashboard", "parser", "network", "sqlite", "async", "plotting", "crypto", "cli"]
    summary = f"{name}: a {words[index % len(words)]} helper for benchmarks"
    description = (
        f"# {name}\n\nThis project does **{words[index % len(words)]}** work.\n\n"
        + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20
    )
    filename, content = make_wheel(name, version, summary=summary, description=description)
    return multipart(name, version, filename, content)


def wait_until(check, timeout: float, step: float = 0.05) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(step)
    return None


def soak(server: Pyshelf, client: Client, args: argparse.Namespace, started: float) -> dict:
    results: dict = {}

    def search_answers() -> bool:
        try:
            status, _ = client.request("GET", "/+search?query=anything", headers=BROWSER)
        except OSError:
            return False
        return status == 200

    waited = wait_until(search_answers, 60)
    results["search_ready_s"] = None if waited is None else time.monotonic() - started
    log(
        f"search answered {results['search_ready_s']:.2f}s after exec"
        if waited is not None
        else "search never answered"
    )
    if not args.no_mirror_list:
        begun = time.monotonic()
        status, body = client.request(
            "GET", "/root/pypi/+simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        count = len(json.loads(body).get("projects", [])) if status == 200 else 0
        results["mirror_list"] = {
            "status": status,
            "names": count,
            "seconds": time.monotonic() - begun,
        }
        log(f"mirror list: HTTP {status}, {count} names in {time.monotonic() - begun:.1f}s")
    samples = []
    last_cpu, last_time = cpu_seconds(server.pid), time.monotonic()
    end = started + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
        now, cpu = time.monotonic(), cpu_seconds(server.pid)
        samples.append(
            {
                "t": round(now - started, 1),
                "rss_mb": rss_kb(server.pid) / 1024,
                "cpu_pct": 100 * (cpu - last_cpu) / max(now - last_time, 1e-6),
            }
        )
        last_cpu, last_time = cpu, now
    results["samples"] = samples
    if samples:
        results["rss_max_mb"] = max(s["rss_mb"] for s in samples)
        results["rss_end_mb"] = samples[-1]["rss_mb"]
        results["cpu_mean_pct"] = statistics.mean(s["cpu_pct"] for s in samples)
        results["cpu_max_pct"] = max(s["cpu_pct"] for s in samples)
        results["cpu_total_s"] = cpu_seconds(server.pid)
    status, body = client.request("GET", "/+status", headers={"Accept": "application/json"})
    results["search_index_after_soak"] = json.loads(body)["result"].get("search-index")
    return results


def big_index(server: Pyshelf, client: Client, args: argparse.Namespace) -> dict:
    results: dict = {}
    client.request(
        "PUT",
        "/bench",
        json.dumps({"password": "bench"}).encode(),
        {**client.auth, "Accept": "application/json", "Content-Type": "application/json"},
    )
    client.request(
        "PUT",
        "/bench/web",
        b"{}",
        {**client.auth, "Accept": "application/json", "Content-Type": "application/json"},
    )
    # Uploads as the index's owner: root is not in a new index's acl_upload.
    owner = {"Authorization": "Basic " + base64.b64encode(b"bench:bench").decode()}
    begun = time.monotonic()
    for n in range(args.projects):
        body, content_type = wheel_upload(f"pkg-{n:04d}", "1.0", n)
        status, _ = client.request(
            "POST", "/bench/web/", body, {**owner, "Content-Type": content_type}
        )
        if status != 200:
            raise RuntimeError(f"upload {n} answered {status}")
    results["upload_s"] = time.monotonic() - begun
    log(f"uploaded {args.projects} projects in {results['upload_s']:.1f}s")

    def indexed() -> bool:
        _, body = client.request("GET", "/+status", headers={"Accept": "application/json"})
        info = json.loads(body)["result"].get("search-index") or {}
        return info.get("queue") == 0 and info.get("documents", 0) >= args.projects

    lag = wait_until(indexed, 600, step=0.2)
    results["index_lag_after_last_upload_s"] = lag
    log(
        f"search index caught up {lag:.1f}s after the last upload"
        if lag is not None
        else "search index did not catch up"
    )
    middle = f"pkg-{args.projects // 2:04d}"
    pages = {
        "version_page": f"/bench/web/{middle}/1.0",
        "project_page": f"/bench/web/{middle}",
        "index_page": "/bench/web",
        "search_exact_name": "/+search?query=" + urllib.parse.quote(middle),
        "search_summary_word": "/+search?query=plotting",
        "search_in_index": "/bench/web/+search?query=" + urllib.parse.quote(middle),
        "search_no_match": "/+search?query=zzzqqq",
    }
    for key, path in pages.items():
        results[key] = client.timed(path, BROWSER, args.repeat)
        log(
            f"  {key:22} median {results[key]['median_ms']:7.1f} ms   "
            f"p95 {results[key]['p95_ms']:7.1f} ms"
        )
    results["rss_after_mb"] = server.rss_kb() / 1024
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pyshelf-bench-web-"))
    server = Pyshelf(workdir)
    report: dict = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "version": server.version(),
    }
    try:
        report["init_s"] = server.init()
        # The soak's clock starts at exec, like the ready time.
        started = time.monotonic()
        report["ready_s"] = server.start()
        log(f"pyshelf {report['version']} ready {report['ready_s']:.2f}s after exec")
        client = Client(server.port)
        report["soak"] = soak(server, client, args, started)
        soaked = report["soak"]
        if soaked.get("samples"):
            log(
                f"first {args.minutes:g} min: RSS max {soaked['rss_max_mb']:.1f} MB, "
                f"CPU mean {soaked['cpu_mean_pct']:.1f}% (max {soaked['cpu_max_pct']:.1f}%), "
                f"{soaked['cpu_total_s']:.1f} CPU-s in all"
            )
        report["big_index"] = big_index(server, client, args)
    finally:
        server.stop()
    out = HERE / "results" / f"web-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
