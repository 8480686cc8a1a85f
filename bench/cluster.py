"""pyshelf on one SQLite process, on PostgreSQL with one and with two processes, beside
devpi-server, in one run: the hosted simple page at 16 connections and token uploads.

Run by hand (see bench/README.md, "Processes and databases"); nothing here asserts on timings.
PostgreSQL is a throwaway cluster started here (``pyshelf_server.testing.PostgresCluster``:
Debian's initdb and pg_ctl, a Unix socket only, durability off as in the tests — it measures
pyshelf, not the disk). The two processes are joined with ``pyshelf-init --join`` on one
database and one store; a load balancer would add its own cost, so the load is split instead:
two wrk runs at 8 connections each at the same time, one per process (their requests per
second added up), and the upload workers alternate between the two processes.

Configurations take turns within each repetition, so background load drifts into all alike;
the medians of ``--repeat`` repetitions are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import workload as w
from load import get_load, upload_files
from servers import (
    ROOT_PASSWORD,
    Devpi,
    Pyshelf,
    compile_editable_sources,
    cpu_seconds_tree,
    ensure_devpi_venv,
)

HERE = Path(__file__).resolve().parent
PAGE = f"/{w.HOSTED}/+simple/{w.project_name(5)}/"
HTML = {"Accept": "text/html"}


class JoinedPyshelf(Pyshelf):
    """A pyshelf process; with ``db_url`` on that database, joined to it when ``join``."""

    def __init__(self, workdir: Path, name: str, *, db_url: str | None = None,
                 store: Path | None = None, join: bool = False) -> None:
        self.name = name
        super().__init__(workdir)
        self.db_url, self.store, self.join = db_url, store, join

    def init_command(self) -> list[str]:
        command = super().init_command()
        if self.join:
            command = [c for c in command if c not in ("--root-passwd", ROOT_PASSWORD)]
            command.append("--join")
        if self.db_url:
            command += ["--db-url", self.db_url]
        if self.store:
            command += ["--storage-url", str(self.store)]
        return command


class Configuration:
    """One or more processes serving one server; ``urls`` to spread the load over."""

    def __init__(self, label: str, servers: list) -> None:
        self.label = label
        self.servers = servers
        self.creds: w.Credentials | None = None
        self.samples: dict[str, list[float]] = {}

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def start(self) -> None:
        for server in self.servers:
            server.init()
            server.start()
        self.creds = w.setup(self.servers[0].url)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)
        print(f"  {self.label:24} {key:14} {value:10.1f}", flush=True)


def split_get(config: Configuration, connections: int, duration: float) -> tuple[float, float]:
    """Requests per second of ``connections`` spread evenly over the processes at once, and
    the requests answered per CPU second the server processes used meanwhile."""
    share = max(1, connections // len(config.urls))
    cpu_before = sum(cpu_seconds_tree(server.pid) for server in config.servers)
    results: list[float] = []
    threads = [
        threading.Thread(
            target=lambda url=url: results.append(
                get_load(url + PAGE, connections=share, duration=duration, headers=HTML).rps
            )
        )
        for url in config.urls
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = sum(cpu_seconds_tree(server.pid) for server in config.servers) - cpu_before
    rps = sum(results)
    return rps, rps * duration / cpu if cpu else 0.0


def split_upload(config: Configuration, rep: int, count: int, seconds: float,
                 workers: int) -> float:
    projects = [f"up-r{rep}-{i:02d}" for i in range(20)]
    versions = [f"3.{j}" for j in range(max(1, count // 40))]
    bodies = w.bodies_for(projects, versions)
    urls = config.urls
    shares = [bodies[i :: len(urls)] for i in range(len(urls))]
    files_per_s: list[float] = []
    threads = [
        threading.Thread(
            target=lambda url=url, share=share: files_per_s.append(
                upload_files(
                    f"{url}/{w.UPLOADS}/", share, headers=config.creds.token_headers,
                    workers=max(1, workers // len(urls)), max_seconds=seconds,
                ).files_per_s
            )
        )
        for url, share in zip(urls, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(files_per_s)


def populate(config: Configuration, projects: int, versions: int) -> None:
    names = [w.project_name(i) for i in range(projects)]
    bodies = w.bodies_for(names, [f"1.{j}" for j in range(versions)])
    result = upload_files(
        f"{config.urls[0]}/{w.HOSTED}/", bodies, headers=config.creds.token_headers,
        workers=8, max_seconds=1800,
    )
    print(f"  {config.label}: populated {result.ok}/{len(bodies)} files", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--upload-count", type=int, default=400)
    parser.add_argument("--upload-seconds", type=float, default=20)
    parser.add_argument("--upload-workers", type=int, default=8)
    parser.add_argument("--with-devpi", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE.parent / "server"))
    from pyshelf_server.testing import PostgresCluster

    compile_editable_sources()
    workroot = Path(tempfile.mkdtemp(prefix="pyshelf-cluster-bench-"))
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))).start()
    one_db = cluster.create_database()
    two_db = cluster.create_database()
    store = workroot / "shared-store"
    configs = [
        Configuration("pyshelf sqlite x1", [JoinedPyshelf(workroot, "sqlite")]),
        Configuration("pyshelf postgresql x1",
                      [JoinedPyshelf(workroot, "pg1", db_url=one_db)]),
        Configuration("pyshelf postgresql x2", [
            JoinedPyshelf(workroot, "pg2a", db_url=two_db, store=store),
            JoinedPyshelf(workroot, "pg2b", db_url=two_db, store=store, join=True),
        ]),
    ]
    if args.with_devpi and ensure_devpi_venv(create=True):
        configs.append(Configuration("devpi-server", [Devpi(workroot)]))
    try:
        for config in configs:
            print(f"starting {config.label}", flush=True)
            config.start()
            populate(config, args.projects, args.versions)
        for rep in range(args.repeat):
            print(f"repetition {rep + 1}", flush=True)
            for config in configs:
                rps, per_cpu_second = split_get(config, 16, args.duration)
                config.add("page_c16", rps)
                config.add("page_per_cpu_s", per_cpu_second)
            for config in configs:
                config.add("upload_token", split_upload(
                    config, rep, args.upload_count, args.upload_seconds, args.upload_workers
                ))
    finally:
        for config in configs:
            config.stop()
        cluster.stop()
        shutil.rmtree(workroot, ignore_errors=True)

    medians = {c.label: {k: statistics.median(v) for k, v in c.samples.items()} for c in configs}
    devpi = medians.get("devpi-server")
    print("\n| configuration | page c16 req/s | page requests per server CPU second "
          "| token uploads files/s |")
    print("|---|---|---|---|")
    for label, values in medians.items():
        cells = []
        for key in ("page_c16", "page_per_cpu_s", "upload_token"):
            cell = f"{values[key]:.0f}"
            if devpi and label != "devpi-server" and key != "page_per_cpu_s":
                cell += f" ({values[key] / devpi[key]:.1f}x devpi)"
            cells.append(cell)
        print(f"| {label} | {' | '.join(cells)} |")
    one, two = medians["pyshelf postgresql x1"], medians["pyshelf postgresql x2"]
    print(f"\ntwo processes / one on PostgreSQL, page c16: "
          f"{two['page_c16'] / one['page_c16']:.2f}x; requests per server CPU second: "
          f"{two['page_per_cpu_s'] / one['page_per_cpu_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"medians": medians, "samples": {
            c.label: c.samples for c in configs}, "date": time.strftime("%F %T")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
