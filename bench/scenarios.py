"""The scenarios, run the same way against every server, repetitions interleaved.

Why this shape: the machine has 2 cores and is shared with other work (test suites of the
other engineers), so the background load drifts over minutes.  Running all of pyshelf's
repetitions and then all of devpi's would let that drift into the ratios.  Instead every
server stays up, and ``run.py`` runs repetition 1 of a scenario on pyshelf, then on devpi,
then on the static reference, then repetition 2, and so on; the median of each server's
repetitions is reported, and each sample keeps the 1-minute load average it ran under.

Before any load each page is fetched once and its status and link count recorded, so a fast
wrong answer (a 404, an empty page) cannot pass for a fast right one.
"""

from __future__ import annotations

import http.client
import os
import re
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import workload as w
from load import get_load, upload_files
from servers import Server, StaticServer

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def count_links(body: str) -> int:
    return len(re.findall(r"<a ", body)) or body.count('"filename"')


def loadavg() -> float:
    return os.getloadavg()[0]


def get_scenarios(args: Any, groups: list[str]) -> list[tuple[str, str, dict[str, str], int]]:
    """(key, path, headers, connections) of the GET scenarios in the chosen groups."""
    hosted = f"/{w.HOSTED}/+simple/{w.project_name(args.projects // 2)}/"
    out = []
    if "simple" in groups:
        for c in (1, 16):
            out += [(f"simple_html_c{c}", hosted, HTML, c), (f"simple_json_c{c}", hosted, JSON, c)]
    if "list" in groups:
        out += [(f"project_list_c{c}", f"/{w.HOSTED}/+simple/", HTML, c) for c in (1, 16)]
    if "big" in groups:
        big = f"/{w.CHILD}/+simple/{w.BIG_PROJECT}/"
        out += [("big_html_c1", big, HTML, 1), ("big_json_c1", big, JSON, 1)]
    return out


class Bench:
    """One server under test, its credentials and its samples."""

    def __init__(
        self, server: Server, args: Any, log: Callable[[str], None], profiler: Any = None
    ) -> None:
        self.server = server
        self.args = args
        self.log = log
        self.profiler = profiler
        self.results: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.memory: list[tuple[str, int]] = []
        self.creds: w.Credentials | None = None

    @property
    def name(self) -> str:
        return self.server.name

    # -- helpers --------------------------------------------------------------------------

    def note_memory(self, label: str) -> None:
        self.memory.append((label, self.server.rss_kb()))

    def probe(self, path: str, headers: dict[str, str]) -> dict[str, Any]:
        """One request before the load: status, size, links, and its time (cold or warm).

        Timed with the standard library's client on a connection opened before the clock
        starts, as the upload loop sends: ``httpx.get`` built an SSL context per call (30-100
        ms), and httpx's own reading of a 1.2 MB page took 10-20 ms more than
        ``http.client``'s, all of it counted as the server's."""
        parts = urlsplit(self.server.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            connection.connect()
            began = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - began) * 1000
        finally:
            connection.close()
        text = body.decode("utf-8", "replace")
        return {
            "status": response.status,
            "bytes": len(body),
            "links": count_links(text),
            "ms": elapsed,
            "body": body,
        }

    def profile(self, name: str, seconds: float, idle: bool = False) -> Any:
        if self.profiler is None:
            return nullcontext()
        return self.profiler.record(self.server.pid, f"{self.name}-{name}", seconds, idle=idle)

    def add_run(self, key: str, value: float, **details: Any) -> None:
        self.runs.setdefault(key, []).append({"value": value, "loadavg": loadavg(), **details})
        self.log(f"  {self.name:8} {key:18} {value:10.4g}   (load avg {loadavg():.1f})")

    # -- setup ----------------------------------------------------------------------------

    def start_fresh(self) -> None:
        self.results["init"] = {"value": self.server.init(), "unit": "s"}
        first = self.server.start()
        self.add_run("startup_fresh", first)
        self.log(f"  started {self.name} in {first:.2f} s on {self.server.url}")
        self.note_memory("fresh start")
        self.creds = w.setup(self.server.url)

    def _populate(
        self, key: str, index: str, bodies: list[tuple[bytes, str]], max_seconds: float
    ) -> None:
        self.log(f"  {self.name}: {key}, {len(bodies)} files into {index} ...")
        result = upload_files(
            f"{self.server.url}/{index}/",
            bodies,
            headers=self.creds.token_headers,
            workers=self.args.upload_workers,
            max_seconds=max_seconds,
        )
        self.results[key] = {"value": result.files_per_s, "unit": "files/s", **result.as_dict()}
        self.log(
            f"  {self.name}: {key}: {result.ok}/{len(bodies)} files in {result.seconds:.1f} s "
            f"({result.files_per_s:.1f} files/s) statuses={result.statuses}"
        )
        self.note_memory(f"after {key}")

    def populate(self, bodies: list[tuple[bytes, str]]) -> None:
        self._populate("populate", w.HOSTED, bodies, self.args.populate_timeout)

    def populate_big(self, bodies: list[tuple[bytes, str]], max_seconds: float) -> None:
        """The big project.  devpi rebuilds the project's links from every version on each
        upload, so past ~600 versions it takes seconds per file; its share is time-capped and
        its page then shows fewer versions (the probe's link count says how many)."""
        self._populate("populate_big", w.BIG, bodies, max_seconds)

    # -- GET scenarios --------------------------------------------------------------------

    def prepare_get(self, key: str, path: str, headers: dict[str, str]) -> bool:
        probe = self.probe(path, headers)
        self.results[key] = {"probe": {k: v for k, v in probe.items() if k != "body"}}
        if key in ("big_html_c1", "big_json_c1"):  # the first answer, nothing cached yet
            first = "big_first_ms" if key == "big_html_c1" else "big_json_first_ms"
            self.results[first] = {"value": probe["ms"], "unit": "ms", **self.results[key]["probe"]}
            self.log(
                f"  {self.name:8} {first:18} {probe['ms']:10.4g}   ({probe['status']}, "
                f"{probe['links']} links, {probe['bytes']} bytes)"
            )
        if probe["status"] != 200:
            self.results[key]["error"] = f"probe answered {probe['status']}"
            self.log(f"  {self.name}: {key}: probe answered {probe['status']}, skipped")
            return False
        return True

    def run_get(self, key: str, path: str, headers: dict[str, str], connections: int) -> None:
        if self.results.get(key, {}).get("error"):
            return
        run = get_load(
            self.server.url + path,
            connections=connections,
            duration=self.args.duration,
            headers=headers,
            tool=self.args.tool,
        )
        self.add_run(key, run.rps, **run.as_dict())

    def profile_get(self, key: str, path: str, headers: dict[str, str], connections: int) -> None:
        """A discarded extra pass under py-spy."""
        with self.profile(key, self.args.duration):
            get_load(
                self.server.url + path,
                connections=connections,
                duration=self.args.duration,
                headers=headers,
                tool=self.args.tool,
            )

    # -- uploads --------------------------------------------------------------------------

    def run_upload(self, kind: str, rep: int, profiled: bool = False) -> None:
        headers = {
            "token": self.creds.token_headers,
            "basic": self.creds.basic_headers,
            "apitoken": self.creds.api_token_headers,
        }[kind]
        if headers is None:
            return
        projects = [f"up-{kind}-r{rep}-{i:02d}" for i in range(20)]
        versions = [f"2.{j}" for j in range(max(1, self.args.upload_count // 40))]
        bodies = w.bodies_for(projects, versions)
        with (
            # uploads wait on fsync and the write lock outside the GIL: keep idle samples too
            self.profile(f"upload_{kind}", self.args.upload_seconds, idle=True)
            if profiled
            else nullcontext()
        ):
            result = upload_files(
                f"{self.server.url}/{w.UPLOADS}/",
                bodies,
                headers=headers,
                workers=self.args.upload_workers,
                max_seconds=self.args.upload_seconds,
            )
        if not profiled:
            self.add_run(f"upload_{kind}", result.files_per_s, **result.as_dict())

    # -- the end --------------------------------------------------------------------------

    def end_memory(self) -> None:
        rss = self.server.rss_kb()
        self.results["rss_end_mb"] = {"value": rss / 1024, "unit": "MB", "timeline_kb": self.memory}
        self.log(f"  {self.name:8} {'rss_end_mb':18} {rss / 1024:10.4g}")

    def restart(self) -> None:
        """Startup time on the filled server directory."""
        self.server.stop()
        self.add_run("startup_data", self.server.start())

    def fresh_startup(self, factory: Callable[[Path], Server], workdir: Path) -> None:
        """Startup time on a newly initialised directory."""
        other = factory(workdir)
        other.workdir.mkdir(parents=True, exist_ok=True)
        other.init()
        try:
            self.add_run("startup_fresh", other.start())
        finally:
            other.stop()

    def summarise(self) -> dict[str, Any]:
        """Medians of the repetitions, with the raw runs kept alongside."""
        for key, runs in self.runs.items():
            values = [run["value"] for run in runs]
            entry = self.results.setdefault(key, {})
            entry.update(value=median(values), samples=values, runs=runs)
            if any("non_2xx" in run for run in runs):
                entry["non_2xx"] = sum(run.get("non_2xx", 0) for run in runs)
                entry["socket_errors"] = sum(run.get("socket_errors", 0) for run in runs)
            if any("statuses" in run for run in runs):
                entry["failures"] = {
                    k: v for run in runs for k, v in run.get("statuses", {}).items() if k != "200"
                }
            if key.startswith("big_") and key.endswith("_c1"):
                middle = sorted(runs, key=lambda run: run["value"])[len(runs) // 2]
                latency = middle.get("latency_ms", {})
                self.results[key.replace("_c1", "_p50_ms")] = {
                    "value": latency.get("p50", latency.get("mean", 0.0)),
                    "unit": "ms",
                    "latency_ms": latency,
                }
        return self.results


class StaticBench(Bench):
    """A reference: pyshelf's simple page saved to disk, served by ``python -m http.server``
    (``StaticServer``) or by a bare app on pyshelf's waitress (``WaitressReference``)."""

    def __init__(self, server: StaticServer, args: Any, log: Callable[[str], None]) -> None:
        super().__init__(server, args, log)

    def serve(self, path: str, body: bytes) -> None:
        self.server.init()
        self.server.save(path, body)
        self.server.start()
        self.results["version"] = {"text": self.server.version()}
