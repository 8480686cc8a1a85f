"""pyshelf's benchmark, run by hand: ``make bench BENCH_ARGS="--with-devpi --repeat 3"``.

Starts pyshelf (and devpi-server from ``.venv-devpi`` when asked) on fresh server directories,
fills each with the same 200 projects x 10 versions and a 3,000-version project, then measures
the scenarios of ``bench/README.md`` one server after the other (never both at once: this is a
2-core machine).  Prints one table with pyshelf, devpi, the ratio, the target and Python's
static file server as a reference, and writes everything to ``bench/results/``.

This is not a test: it asserts nothing about timings and is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import wrk_available  # noqa: E402
from report import anomalies, table  # noqa: E402
from servers import (  # noqa: E402
    Pyshelf,
    compile_editable_sources,
    ensure_core_venv,
    ensure_devpi_venv,
    git_commit,
)
from session import run_session  # noqa: E402

SCENARIOS = ["startup", "simple", "list", "big", "upload", "static"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--with-devpi",
        action="store_true",
        help="also run devpi-server (creates .venv-devpi when missing)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--duration", type=float, default=10, help="seconds per load window")
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument(
        "--versions", type=int, default=10, help="versions per project (wheel + sdist each)"
    )
    parser.add_argument("--big-versions", type=int, default=3000)
    parser.add_argument("--upload-count", type=int, default=400, help="files per upload repetition")
    parser.add_argument(
        "--upload-seconds", type=float, default=20, help="time cap per upload repetition"
    )
    parser.add_argument(
        "--upload-workers", type=int, default=8, help="concurrent upload connections"
    )
    parser.add_argument("--populate-timeout", type=float, default=2400)
    parser.add_argument(
        "--devpi-big-seconds",
        type=float,
        default=300,
        help="time cap of devpi's 3,000-version upload (it slows to ~0.5 files/s past 600)",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="run pyshelf from .venv-bench: the last commit's server/ alone (no plugins, "
        "no uncommitted work), reinstalled when HEAD moves; default: the editable .venv",
    )
    parser.add_argument(
        "--pyshelf-threads", type=int, default=None, help="default: the server's own"
    )
    parser.add_argument("--devpi-threads", type=int, default=None, help="default: devpi's own (50)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--tool",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="GET load generator (auto: wrk when installed)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="an extra, discarded pass of each pyshelf scenario under py-spy",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for the whole run (e.g. -10 on a machine shared with test suites)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the server directories")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers started below are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.nice:
        os.nice(args.nice)  # inherited by the servers, wrk and py-spy started below
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workroot = Path(tempfile.mkdtemp(prefix="pyshelf-bench-"))
    profiler = None
    if args.profile:
        from profiling import Profiler

        profiler = Profiler(results_dir / f"profile-{stamp}")
    if args.tool == "wrk" or (args.tool == "auto" and wrk_available()):
        tool = "wrk -t1"
    else:
        tool = "httpx asyncio loop"
    log(
        f"load tool: {tool}; repeat {args.repeat}; window {args.duration:g} s; "
        f"{args.projects} projects x {args.versions} versions; work dir {workroot}"
    )
    if args.with_devpi and not ensure_devpi_venv(create=True):
        log("devpi-server could not be installed; running pyshelf alone")
        args.with_devpi = False
    commit = git_commit()
    if args.core_only:
        Pyshelf.bin_dir = ensure_core_venv()
        log(f"pyshelf from {Pyshelf.bin_dir.parent}: a snapshot of commit {commit[:10]}")
    else:
        compile_editable_sources()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "server"],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
            timeout=60,
        ).stdout.strip()
        log(
            f"pyshelf from {Pyshelf.bin_dir.parent} (editable: commit {commit[:10]}"
            + (", with uncommitted changes in server/)" if dirty else ")")
        )
    load_before = os.getloadavg()
    try:
        results = run_session(args, workroot, log, profiler)
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    pyshelf, devpi = results["pyshelf"], results.get("devpi")
    static, bare_waitress = results.get("static"), results.get("waitress")
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": _memory_gb(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    document = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine,
        "tool": tool,
        "commit": commit,
        "core_only": args.core_only,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **results,
    }
    notes = anomalies("pyshelf", pyshelf) + (anomalies("devpi", devpi) if devpi else [])
    log("")
    versions = f"pyshelf {pyshelf['version']['text']}"
    if devpi:
        versions += f" vs devpi-server {devpi['version']['text']}"
    log(
        f"{versions}; {tool}; medians of {args.repeat}; {machine['cpus']} CPUs, "
        f"Python {machine['python']}; load average {load_before[0]:.1f} before, "
        f"{machine['loadavg_after'][0]:.1f} after"
    )
    log(table(pyshelf, devpi, static, bare_waitress))
    for label, entry in (("pyshelf", pyshelf), ("devpi", devpi)):
        if entry and entry.get("rss_end_mb"):
            timeline = entry["rss_end_mb"]["timeline_kb"]
            log(f"{label} resident MB: " + ", ".join(f"{n} {kb / 1024:.0f}" for n, kb in timeline))
    for note in notes:
        log("! " + note)
    if profiler is not None:
        from profiling import summarise

        for path in profiler.profiles.values():
            log("")
            log(summarise(path))
    document["notes"] = notes
    document["markdown"] = table(pyshelf, devpi, static, bare_waitress, markdown=True)
    out = json.dumps(document, indent=2, default=str)
    (results_dir / f"bench-{stamp}.json").write_text(out)
    (results_dir / f"bench-{stamp}.md").write_text(document["markdown"] + "\n")
    if args.json:
        args.json.write_text(out)
    log(f"\nresults: {results_dir / f'bench-{stamp}.json'}")
    return 0


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    raise SystemExit(main())
