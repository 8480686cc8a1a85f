"""One benchmark session: bring every server up, fill them, run the scenarios interleaved.

Why a separate module: ``run.py`` is the command line and the printout; this is the order of
events, which is what decides whether the figures are comparable.  The order is:

1. each server on a fresh directory (the first startup sample), then the user and indexes;
2. the same 4,000 files uploaded to each, then the same 3,000-version project;
3. the two references start, serving the page pyshelf answered: ``python -m http.server`` from
   disk, and a bare app on pyshelf's waitress configuration (the ceiling of any app there);
4. for each scenario and each repetition: pyshelf, devpi, the references, one after the other;
5. resident memory of each, then restarts on the filled directories and fresh directories.

Only one server is under load at any moment; the idle ones cost nothing but memory (each GET
scenario and each upload run first waits until every server is idle: devpi keeps working in
the background after uploads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload as w
from scenarios import Bench, StaticBench, get_scenarios
from servers import Devpi, Pyshelf, StaticServer, WaitressReference, cpu_seconds_tree


def wait_until_idle(
    benches: list[Bench],
    log: Callable[[str], None],
    *,
    window: float = 0.5,
    share: float = 0.05,
    limit: float = 180.0,
) -> None:
    """Wait until no server used more than ``share`` of a core over ``window`` seconds (at
    most ``limit`` seconds). devpi-server keeps working for a while after many uploads (10.7 s
    after the 4,000-file populate in one run), and a measurement of another server taken
    meanwhile would measure the two together. Data a server wrote without fsync is written
    out first (``os.sync``): on ext4 the next server's first fsync would otherwise wait for it
    and be charged for the other's deferred writes."""
    began = time.monotonic()
    os.sync()
    pids = [b.server.pid for b in benches if b.server.process is not None]
    while time.monotonic() - began < limit:
        before = [cpu_seconds_tree(pid) for pid in pids]
        time.sleep(window)
        after = [cpu_seconds_tree(pid) for pid in pids]
        if all(b - a <= share * window for a, b in zip(before, after, strict=True)):
            break
    waited = time.monotonic() - began
    if waited > window * 2:
        log(f"  (waited {waited:.1f} s for the servers to go idle)")


def run_session(
    args: Any, workroot: Path, log: Callable[[str], None], profiler: Any = None
) -> dict:
    kinds: list[type] = [Pyshelf] + ([Devpi] if args.with_devpi else [])
    benches: list[Bench] = []
    references: list[StaticBench] = []
    try:
        for kind in kinds:
            threads = args.pyshelf_threads if kind is Pyshelf else args.devpi_threads
            workdir = workroot / kind.name
            workdir.mkdir(parents=True, exist_ok=True)
            server = kind(workdir, threads=threads)
            bench = Bench(server, args, log, profiler=profiler if kind is Pyshelf else None)
            bench.results["version"] = {"text": server.version()}
            log(f"== {kind.name} {bench.results['version']['text']}")
            benches.append(bench)
            bench.start_fresh()

        projects = [w.project_name(i) for i in range(args.projects)]
        bodies = w.bodies_for(projects, [f"1.{j}" for j in range(args.versions)])
        for bench in benches:
            bench.populate(bodies)
        if "big" in args.scenarios:
            versions = [f"{1 + j // 1000}.{j % 1000}" for j in range(args.big_versions)]
            big = w.bodies_for([w.BIG_PROJECT], versions, sdist=False)
            for bench in benches:
                cap = args.populate_timeout
                if bench.name == "devpi":
                    cap = min(cap, args.devpi_big_seconds)
                bench.populate_big(big, cap)
        del bodies

        gets = get_scenarios(args, args.scenarios)
        if "static" in args.scenarios and "simple" in args.scenarios:
            path = next(p for key, p, _, _ in gets if key == "simple_html_c1")
            page = benches[0].probe(path, {"Accept": "text/html"})["body"]
            for server in (
                StaticServer(workroot / StaticServer.name),
                # pyshelf's thread count, so that only the application differs.
                WaitressReference(workroot / WaitressReference.name, threads=args.pyshelf_threads),
            ):
                reference = StaticBench(server, args, log)
                references.append(reference)
                reference.serve(path, page)

        for key, path, headers, connections in gets:
            log(f"-- {key}: GET {path} with {connections} connection(s)")
            wait_until_idle(benches, log)
            runners = [b for b in benches if b.prepare_get(key, path, headers)]
            if key.startswith("simple_html"):
                runners += [r for r in references if r.prepare_get(key, path, headers)]
            for _ in range(args.repeat):
                for bench in runners:
                    bench.run_get(key, path, headers, connections)
            for bench in runners:
                bench.note_memory(key)
            if profiler is not None and benches[0] in runners:
                benches[0].profile_get(key, path, headers, connections)

        if "upload" in args.scenarios:
            for kind in ("token", "basic", "apitoken"):
                limit = f"{args.upload_count} files or {args.upload_seconds:g} s"
                log(f"-- upload_{kind}: up to {limit}")
                for rep in range(args.repeat):
                    for bench in benches:
                        # devpi-server keeps working for seconds after its uploads; the next
                        # server's uploads must not share the machine with that.
                        wait_until_idle(benches, log)
                        bench.run_upload(kind, rep)
                for bench in benches:
                    bench.note_memory(f"upload_{kind}")
                if profiler is not None:
                    benches[0].run_upload(kind, args.repeat, profiled=True)

        log("-- memory and startup")
        for bench in benches:
            bench.end_memory()
        if "startup" in args.scenarios:
            for _ in range(args.repeat):
                for bench in benches:
                    bench.restart()
            for rep in range(args.repeat - 1):  # the first fresh sample was taken at the start
                for bench in benches:
                    kind, threads = type(bench.server), bench.server.threads
                    bench.fresh_startup(
                        lambda d, kind=kind, threads=threads: kind(d, threads=threads),
                        workroot / f"{bench.name}-fresh-{rep}",
                    )
    finally:
        for bench in [*benches, *references]:
            bench.server.stop()
    out = {bench.name: bench.summarise() for bench in benches}
    for reference in references:
        out[reference.name] = reference.summarise()
    return out
