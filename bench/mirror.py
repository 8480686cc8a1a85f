"""pyshelf's caching-mirror benchmark, run by hand: ``python bench/mirror.py --with-devpi``.

Measures what a pip user sees through the mirror, next to devpi-server (``--with-devpi``) and
proxpi (``--with-proxpi``, installed into ``.venv-proxpi`` on first use), against the same
download straight from the index pip uses (the baseline):

* cold: ``pip download --no-deps --no-cache-dir`` of 15 small pinned packages through a mirror
  on a fresh server directory (every page and file comes from upstream), right after the same
  download straight from the index (the baseline, taken under the same load); rounds go
  through the servers in turn (``--cold-repeat`` rounds), so a minute of heavy load on the
  shared machine hits every server, not one;
* warm: the same download again, into a new directory, with pip's cache off, same server;
* the mirrored ``requests`` simple page under wrk at c1 and c16 (after a warm-up request; for
  pyshelf after a first full listing, which waits for the project list that a fresh mirror
  fetches in the background only once it is quiet, so that fetch does not land in the windows);
* pyshelf's memory (VmRSS and RssAnon) before and after 3 full ``/root/pypi/+simple/``
  listings (the ~900,000-name project list), right after the page windows.

The upstream index is whatever pip is configured with (``pipconfig.pip_index_url``); no
registry address is written here.  Load only targets the loopback servers started here.  This
is not a test: it asserts nothing.  Results go to ``bench/results/mirror-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import get_load  # noqa: E402
from mirror_servers import (  # noqa: E402
    PAGE_PROJECT,
    DevpiMirror,
    Proxpi,
    PyshelfMirror,
    ensure_proxpi,
    full_listing,
    log,
    pip_env,
    upstream_url,
)
from servers import Pyshelf, ensure_devpi_venv, git_commit  # noqa: E402

PACKAGES = [
    "six==1.16.0",
    "idna==3.7",
    "iniconfig==2.0.0",
    "packaging==24.1",
    "attrs==24.2.0",
    "pluggy==1.5.0",
    "certifi==2024.8.30",
    "charset-normalizer==3.3.2",
    "urllib3==2.2.3",
    "requests==2.32.3",
    "tomli==2.0.1",
    "typing-extensions==4.12.2",
    "zipp==3.20.2",
    "colorama==0.4.6",
    "wheel==0.44.0",
]


def pip_download(index_url: str, workdir: Path, timeout: float) -> float:
    """Seconds for one ``pip download`` of PACKAGES into a new directory, pip's cache off."""
    target = Path(tempfile.mkdtemp(prefix="dl-", dir=workdir))
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "-q",
        # pip's default 15 s read timeout is shorter than devpi-server's first answer on a
        # fresh root/pypi (it fetches the whole project list first); the same for every server
        "--timeout",
        "120",
        "-d",
        str(target),
        "--index-url",
        index_url,
        *PACKAGES,
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=pip_env())
    seconds = time.monotonic() - started
    got = len(list(target.iterdir()))
    shutil.rmtree(target, ignore_errors=True)
    if done.returncode != 0 or got != len(PACKAGES):
        raise RuntimeError(
            f"pip download from {index_url} failed ({got} files):\n{done.stderr[-2000:]}"
        )
    return seconds


def measure_round(server, args, workdir: Path, out: dict, direct: list[float], last: bool) -> None:
    """One round of ``server``: a fresh server directory, a direct download (appended to
    ``direct``), the cold download right after it, ``--repeat`` warm ones; in the last round
    also the page windows (and for pyshelf the memory scenario). Rounds go through the
    servers in turn, so every server meets the machine's load of every minute of the run (on
    a shared machine the direct download alone moves by a second from minute to minute)."""
    server.init()
    server.start()
    try:
        server.prepare()
        index_url = server.url + server.simple_base
        direct.append(pip_download(upstream_url(), workdir, args.pip_timeout))
        out.setdefault("direct_s", []).append(direct[-1])
        cold = out.setdefault("cold_samples", [])
        cold.append(pip_download(index_url, workdir, args.pip_timeout))
        log(f"{server.name} cold #{len(cold)}: {cold[-1]:.2f} s (direct: {direct[-1]:.2f} s)")
        warm = out.setdefault("warm_samples", [])
        for _ in range(args.repeat):
            warm.append(pip_download(index_url, workdir, args.pip_timeout))
        log(f"{server.name} warm: {', '.join(f'{s:.2f}' for s in warm[-args.repeat :])} s")
        out["cold_s"] = {"value": statistics.median(cold), "samples": cold}
        out["warm_s"] = {"value": statistics.median(warm), "samples": warm}
        if last:
            measure_page(server, args, out)
            if server.name == "pyshelf" and not args.no_listing:
                measure_listing(server, args, out)
    finally:
        server.stop()


def measure_page(server, args, out: dict) -> None:
    server.settle(args, out)
    page = server.url + server.page_path
    warmup = httpx.get(page, headers={"Accept": "text/html"}, timeout=120)
    out["page"] = {
        "status": warmup.status_code,
        "bytes": len(warmup.content),
        "links": warmup.text.count("<a "),
    }
    for conns in (1, 16):
        samples = [
            get_load(
                page, connections=conns, duration=args.duration, headers={"Accept": "text/html"}
            ).as_dict()
            for _ in range(args.repeat)
        ]
        out[f"page_c{conns}"] = {
            "value": statistics.median(s["rps"] for s in samples),
            "samples": samples,
        }
        log(
            f"{server.name} page c{conns}: {out[f'page_c{conns}']['value']:.0f} req/s "
            f"(non-2xx {sum(s['non_2xx'] for s in samples)})"
        )
    out["rss_after_page_mb"] = server.rss_kb() / 1024


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon (private anonymous memory: the heap) and RssFile (mapped files: the
    project list's map, libraries; reclaimable page cache) of ``pid``, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _sep, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0]) / 1024
    return found


def measure_listing(server: Pyshelf, args, out: dict) -> None:
    url = server.url + "/root/pypi/+simple/"
    # The list is there: settle() listed it once before the page windows.
    before = memory_mb(server.pid)
    listings = []
    for _ in range(3):
        listings.append(full_listing(url, args.listing_timeout))
        log(f"pyshelf full listing: {listings[-1]}; memory {memory_mb(server.pid)}")
    time.sleep(1)  # the worker thread finishes the answer it streamed
    after = memory_mb(server.pid)
    out["listing"] = listings
    out["memory_before_list_mb"] = before
    out["memory_after_list_mb"] = after
    out["rss_before_list_mb"] = {"value": before["VmRSS"]}
    out["rss_after_list_mb"] = {"value": after["VmRSS"]}
    out["rss_growth_mb"] = {"value": after["VmRSS"] - before["VmRSS"]}
    out["anon_growth_mb"] = {"value": after["RssAnon"] - before["RssAnon"]}


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(results: dict) -> str:
    ps, dv, px = results["pyshelf"], results.get("devpi") or {}, results.get("proxpi") or {}
    direct = results["direct"]["cold_s"]["value"] or 0.0

    def v(d, key):
        return (d.get(key) or {}).get("value")

    def ratio(a, b, higher):
        if a is None or b is None or not a or not b:
            return "-"
        return f"{(a / b if higher else b / a):.2f}x"

    def verdict(ok: list[bool | None]) -> str:
        known = [x for x in ok if x is not None]
        return "-" if not known else ("met" if all(known) else "MISSED")

    rows = []
    c, w = v(ps, "cold_s"), v(ps, "warm_s")
    p1, p16 = v(ps, "page_c1"), v(ps, "page_c16")
    cx, wx = v(px, "cold_s"), v(px, "warm_s")
    rows.append(
        (
            "cold download, 15 pkgs",
            "s",
            c,
            v(dv, "cold_s"),
            cx,
            direct,
            False,
            "≤1.1x direct, < proxpi",
            verdict([c <= 1.1 * direct if c else None, c < cx if c and cx else None]),
        )
    )
    rows.append(
        (
            "warm download, 15 pkgs",
            "s",
            w,
            v(dv, "warm_s"),
            wx,
            direct,
            False,
            "< proxpi",
            verdict([w < wx if w and wx else None]),
        )
    )
    for conns, val in ((1, p1), (16, p16)):
        d, x = v(dv, f"page_c{conns}"), v(px, f"page_c{conns}")
        rows.append(
            (
                f"{PAGE_PROJECT} page, c{conns}",
                "req/s",
                val,
                d,
                x,
                None,
                True,
                "≥10x devpi, ≥2x proxpi",
                verdict(
                    [val >= 10 * d if d and val else None, val >= 2 * x if x and val else None]
                ),
            )
        )
    growth, anon = v(ps, "rss_growth_mb"), v(ps, "anon_growth_mb")
    if growth is not None:
        # The target judges private memory (RssAnon): VmRSS also counts the pages of mapped
        # files (the list's map, libraries), which are page cache the system can reclaim.
        rows.append(
            (
                "RssAnon growth, 3 listings",
                "MB",
                anon,
                None,
                None,
                None,
                False,
                "no growth (≤ 5 MB)",
                verdict([anon <= 5 if anon is not None else None]),
            )
        )
        rows.append(("VmRSS growth, 3 listings", "MB", growth, None, None, None, False, "", ""))
        rows.append(
            (
                "VmRSS after listings",
                "MB",
                v(ps, "rss_after_list_mb"),
                None,
                None,
                None,
                False,
                "",
                "",
            )
        )
    head = (
        f"{'scenario':30} {'unit':5} {'pyshelf':>8} {'devpi':>8} {'ratio':>7} "
        f"{'proxpi':>8} {'ratio':>7} {'direct':>7}  {'target':24} verdict"
    )
    lines = [head, "-" * len(head)]
    for label, unit, p, d, x, base, higher, target, ok in rows:
        lines.append(
            f"{label:30} {unit:5} {fmt(p):>8} {fmt(d):>8} {ratio(p, d, higher):>7} "
            f"{fmt(x):>8} {ratio(p, x, higher):>7} {fmt(base):>7}  {target:24} {ok}"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-devpi", action="store_true")
    parser.add_argument("--with-proxpi", action="store_true")
    parser.add_argument(
        "--cold-repeat",
        type=int,
        default=3,
        help="rounds through the servers: each a direct then a cold download (fresh server "
        "directory) then the warm ones",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="warm downloads per cold one, and page load windows"
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk window")
    parser.add_argument("--pip-timeout", type=float, default=600)
    parser.add_argument("--listing-timeout", type=float, default=120)
    parser.add_argument("--no-listing", action="store_true", help="skip the memory scenario")
    parser.add_argument(
        "--relative-links",
        action="store_true",
        help="run pyshelf without --outside-url: relative links on its simple pages",
    )
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    upstream = upstream_url()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict = {
        "stamp": stamp,
        "commit": git_commit(),
        "packages": PACKAGES,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    workdir = Path(tempfile.mkdtemp(prefix="pyshelf-mirror-bench-"))
    servers: list = [PyshelfMirror(workdir)]
    servers[0].relative_links = args.relative_links
    results["pyshelf_links"] = "relative" if args.relative_links else "absolute (--outside-url)"
    if args.with_devpi and ensure_devpi_venv(create=True):
        servers.append(DevpiMirror(workdir))
    if args.with_proxpi and ensure_proxpi(timeout=240):
        servers.append(Proxpi(workdir))
    try:
        # A first direct download warms upstream's caches for everyone; not counted.
        first = pip_download(upstream, workdir, args.pip_timeout)
        log(f"direct from pip's index (not counted): {first:.2f} s")
        direct: list[float] = []
        results["direct"] = {"cold_s": {"value": None, "samples": direct}}
        for server in servers:
            results[server.name] = {"version": server.version()}
        for rep in range(args.cold_repeat):
            for server in servers:
                out = results[server.name]
                if "error" in out:
                    continue
                try:
                    last = rep + 1 == args.cold_repeat
                    measure_round(server, args, workdir, out, direct, last)
                except Exception as exc:  # one server failing must not lose the others' figures
                    log(f"{server.name} failed: {exc}")
                    out["error"] = str(exc)
                    out["log_tail"] = server.log_path.read_text(errors="replace")[-3000:]
    finally:
        for server in servers:
            server.stop()
    if direct:
        results["direct"]["cold_s"]["value"] = statistics.median(direct)
    results["loadavg_after"] = os.getloadavg()
    text = table(results)
    versions = ", ".join(f"{s.name} {results[s.name].get('version')}" for s in servers)
    header = (
        f"{versions}; medians (cold x{args.cold_repeat}, warm/page x{args.repeat}, direct "
        f"x{len(direct)}, one before each cold download); "
        f"pyshelf's links {results['pyshelf_links']}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{results['loadavg_before'][0]:.1f} before, {results['loadavg_after'][0]:.1f} after"
    )
    print(header)
    print(text)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    target = args.json or out_dir / f"mirror-{stamp}.json"
    results["table"] = header + "\n" + text
    target.write_text(json.dumps(results, indent=2, default=str))
    log(f"results in {target}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
