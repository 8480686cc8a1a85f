"""The scenarios, each run the same way against every server.

Why this shape: one ``Bench`` per server holds its process, credentials and the raw samples;
each scenario method adds ``results[key] = {"value": median, "samples": […], …}`` so that
``report.py`` can line the servers up key by key.  Repetitions are back to back and the
median is reported; every repetition keeps its own raw wrk/upload figures in the JSON.
Before any load, each page is fetched once and its status and link count recorded, so a
fast wrong answer (a 404, an empty page) cannot pass for a fast right one.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import workload as w
from load import get_load, upload_files
from servers import Server, StaticServer

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def count_links(body: str) -> int:
    return len(re.findall(r"<a ", body)) or body.count('"filename"')


class Bench:
    def __init__(
        self, server: Server, args: Any, log: Callable[[str], None], profiler: Any = None
    ) -> None:
        self.server = server
        self.args = args
        self.log = log
        self.profiler = profiler
        self.results: dict[str, dict[str, Any]] = {}
        self.memory: list[tuple[str, int]] = []
        self.creds: w.Credentials | None = None
        self.hosted_project = w.project_name(args.projects // 2)

    # -- helpers --------------------------------------------------------------------------

    def note_memory(self, label: str) -> None:
        self.memory.append((label, self.server.rss_kb()))

    def record(self, key: str, samples: list[float], **details: Any) -> None:
        self.results[key] = {"value": median(samples), "samples": samples, **details}
        self.log(f"  {key}: {median(samples):.4g}  samples={[round(s, 4) for s in samples]}")

    def probe(self, path: str, headers: dict[str, str]) -> dict[str, Any]:
        """One request before the load: status, size, links, and its time (cold or warm)."""
        began = time.perf_counter()
        response = httpx.get(self.server.url + path, headers=headers, timeout=120)
        elapsed = (time.perf_counter() - began) * 1000
        return {
            "status": response.status_code,
            "bytes": len(response.content),
            "links": count_links(response.text),
            "ms": elapsed,
            "body": response.content,
        }

    def _profile(self, name: str, seconds: float) -> Any:
        if self.profiler is None:
            return nullcontext()
        return self.profiler.record(self.server.pid, f"{self.server.name}-{name}", seconds)

    def get_scenario(self, key: str, path: str, headers: dict[str, str], connections: int) -> None:
        probe = self.probe(path, headers)
        if probe["status"] != 200:
            self.log(f"  {key}: probe answered {probe['status']}, skipped")
            self.results[key] = {"value": 0.0, "samples": [], "error": f"status {probe['status']}"}
            return
        runs = [
            get_load(
                self.server.url + path,
                connections=connections,
                duration=self.args.duration,
                headers=headers,
                tool=self.args.tool,
            )
            for _ in range(self.args.repeat)
        ]
        if self.profiler is not None:
            with self._profile(key, self.args.duration):
                get_load(
                    self.server.url + path,
                    connections=connections,
                    duration=self.args.duration,
                    headers=headers,
                    tool=self.args.tool,
                )
        self.record(
            key,
            [run.rps for run in runs],
            unit="req/s",
            path=path,
            probe={k: v for k, v in probe.items() if k != "body"},
            non_2xx=sum(run.non_2xx for run in runs),
            socket_errors=sum(run.socket_errors for run in runs),
            latency_ms=runs[len(runs) // 2].latency_ms,
            runs=[run.as_dict() for run in runs],
        )
        self.note_memory(key)

    # -- setup ----------------------------------------------------------------------------

    def start_fresh(self) -> None:
        self.results["init"] = {"value": self.server.init(), "unit": "s"}
        first = self.server.start()
        self.results["startup_fresh"] = {"value": first, "samples": [first], "unit": "s"}
        self.log(f"  started {self.server.name} in {first:.2f} s on {self.server.url}")
        self.note_memory("fresh start")
        self.creds = w.setup(self.server.url)

    def populate(self) -> None:
        projects = [w.project_name(i) for i in range(self.args.projects)]
        versions = [f"1.{j}" for j in range(self.args.versions)]
        bodies = w.bodies_for(projects, versions)
        self.log(f"  populating {w.HOSTED}: {len(bodies)} files …")
        result = upload_files(
            f"{self.server.url}/{w.HOSTED}/",
            bodies,
            headers=self.creds.token_headers,
            workers=self.args.upload_workers,
            max_seconds=self.args.populate_timeout,
        )
        self.results["populate"] = {
            "value": result.files_per_s,
            "unit": "files/s",
            **result.as_dict(),
        }
        self.log(
            f"  populate: {result.ok}/{len(bodies)} files in {result.seconds:.1f} s "
            f"({result.files_per_s:.1f} files/s) statuses={result.statuses}"
        )
        self.note_memory("after populate")

    def populate_big(self) -> None:
        versions = [f"{1 + j // 1000}.{j % 1000}" for j in range(self.args.big_versions)]
        bodies = w.bodies_for([w.BIG_PROJECT], versions, sdist=False)
        self.log(f"  populating {w.BIG}/{w.BIG_PROJECT}: {len(bodies)} versions …")
        result = upload_files(
            f"{self.server.url}/{w.BIG}/",
            bodies,
            headers=self.creds.token_headers,
            workers=self.args.upload_workers,
            max_seconds=self.args.populate_timeout,
        )
        self.results["populate_big"] = {
            "value": result.files_per_s,
            "unit": "files/s",
            **result.as_dict(),
        }
        self.log(
            f"  populate big: {result.ok}/{len(bodies)} in {result.seconds:.1f} s "
            f"({result.files_per_s:.1f} files/s) statuses={result.statuses}"
        )
        self.note_memory("after big populate")

    # -- scenarios ------------------------------------------------------------------------

    def simple_pages(self) -> None:
        path = f"/{w.HOSTED}/+simple/{self.hosted_project}/"
        for connections in (1, 16):
            self.get_scenario(f"simple_html_c{connections}", path, HTML, connections)
            self.get_scenario(f"simple_json_c{connections}", path, JSON, connections)

    def project_list(self) -> None:
        path = f"/{w.HOSTED}/+simple/"
        for connections in (1, 16):
            self.get_scenario(f"project_list_c{connections}", path, HTML, connections)

    def big_page(self) -> None:
        path = f"/{w.CHILD}/+simple/{w.BIG_PROJECT}/"
        first = self.probe(path, HTML)  # the first answer: nothing cached yet
        first_json = self.probe(path, JSON)
        self.results["big_first_ms"] = {
            "value": first["ms"],
            "unit": "ms",
            "status": first["status"],
            "links": first["links"],
            "bytes": first["bytes"],
            "json_ms": first_json["ms"],
            "json_links": first_json["links"],
        }
        self.log(
            f"  big page first fetch: {first['status']} {first['links']} links "
            f"{first['bytes']} bytes in {first['ms']:.1f} ms (json {first_json['ms']:.1f} ms)"
        )
        self.get_scenario("big_html_c1", path, HTML, 1)
        self.get_scenario("big_json_c1", path, JSON, 1)
        for key in ("big_html_c1", "big_json_c1"):
            if self.results[key].get("latency_ms"):
                lat = self.results[key]["latency_ms"]
                self.results[key.replace("_c1", "_p50_ms")] = {
                    "value": lat.get("p50", lat.get("mean", 0.0)),
                    "unit": "ms",
                    "latency_ms": lat,
                }

    def uploads(self) -> None:
        for kind, headers in (
            ("token", self.creds.token_headers),
            ("basic", self.creds.basic_headers),
        ):
            runs = []
            passes = self.args.repeat + (1 if self.profiler is not None else 0)
            for rep in range(passes):
                projects = [f"up-{kind}-r{rep}-{i:02d}" for i in range(20)]
                versions = [f"2.{j}" for j in range(max(1, self.args.upload_count // 40))]
                bodies = w.bodies_for(projects, versions)
                profiled = rep == self.args.repeat
                with (
                    self._profile(f"upload_{kind}", self.args.upload_seconds)
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
                    runs.append(result)
            failures = {k: v for run in runs for k, v in run.statuses.items() if k != "200"}
            self.record(
                f"upload_{kind}",
                [run.files_per_s for run in runs],
                unit="files/s",
                failures=failures,
                runs=[run.as_dict() for run in runs],
            )
            self.note_memory(f"upload_{kind}")

    def static_reference(self, workdir: Path) -> dict[str, Any]:
        """Save pyshelf's simple page and serve it with ``python -m http.server``."""
        path = f"/{w.HOSTED}/+simple/{self.hosted_project}/"
        page = self.probe(path, HTML)
        static = StaticServer(workdir)
        static.init()
        static.save(path, page["body"])
        static.start()
        out: dict[str, Any] = {"version": static.version()}
        try:
            for connections in (1, 16):
                runs = [
                    get_load(
                        static.url + path,
                        connections=connections,
                        duration=self.args.duration,
                        tool=self.args.tool,
                    )
                    for _ in range(self.args.repeat)
                ]
                out[f"simple_html_c{connections}"] = {
                    "value": median([run.rps for run in runs]),
                    "samples": [run.rps for run in runs],
                    "non_2xx": sum(run.non_2xx for run in runs),
                    "socket_errors": sum(run.socket_errors for run in runs),
                    "unit": "req/s",
                }
                rps = out[f"simple_html_c{connections}"]["value"]
                self.log(f"  static c{connections}: {rps:.1f} req/s")
            out["rss_kb"] = static.rss_kb()
        finally:
            static.stop()
        return out

    def finish(self) -> None:
        """Resident memory at the end of the run, then restarts on the filled server dir."""
        rss = self.server.rss_kb()
        self.results["rss_end_mb"] = {"value": rss / 1024, "unit": "MB", "timeline_kb": self.memory}
        self.log(f"  resident memory at the end: {rss / 1024:.1f} MB")
        self.server.stop()
        samples = []
        for _ in range(self.args.repeat):
            samples.append(self.server.start())
            self.server.stop()
        self.record("startup_data", samples, unit="s")

    def fresh_startups(self, factory: Callable[[Path], Server], workdir: Path) -> None:
        """More fresh-directory startups, each on a newly initialised directory."""
        samples = list(self.results["startup_fresh"]["samples"])
        for i in range(self.args.repeat - 1):
            other = factory(workdir / f"fresh-{i}")
            other.workdir.mkdir(parents=True, exist_ok=True)
            other.init()
            samples.append(other.start())
            other.stop()
        self.record("startup_fresh", samples, unit="s")
