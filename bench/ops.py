"""Operations benchmarks, run by hand (not a test):

- ``metrics``: the hosted simple page with metrics on and with ``--no-metrics`` (wrk, c1 and
  c16, windows alternating between the two servers), and the ratio;
- ``dump``: ``pyshelf-export`` and ``pyshelf-import`` of 4,000 files (200 projects x 10
  versions, wheel and sdist): seconds and peak resident memory of each command;
- ``download``: a 200 MB file downloaded 8 at a time through pyshelf alone, through nginx with
  X-Accel-Redirect, and from nginx as a static file (plain HTTP on loopback for all three).

    .venv/bin/python bench/ops.py [--scenarios metrics,dump,download] [--repeat 3]

Everything listens on 127.0.0.1 only. Results go to stdout and bench/results/ops-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from load import run_wrk, upload_files  # noqa: E402
from servers import MAIN_BIN, Pyshelf, cpu_seconds_tree, free_port  # noqa: E402
from workload import HOSTED, PASSWORD, USER, bodies_for, login, project_name, setup  # noqa: E402

REPO = HERE.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class PyshelfWith(Pyshelf):
    def __init__(self, workdir: Path, name: str, args: list[str]) -> None:
        self.name = name
        super().__init__(workdir)
        self.args = args

    def server_command(self) -> list[str]:
        return [*super().server_command(), *self.args]


def fill(server: Pyshelf, projects: int, versions: int) -> int:
    credentials = setup(server.url)
    bodies = bodies_for([project_name(i) for i in range(projects)],
                        [f"1.{v}" for v in range(versions)])
    result = upload_files(f"{server.url}/{HOSTED}/", bodies, headers=credentials.token_headers,
                          workers=8, max_seconds=3600)
    return result.ok


def metrics(workdir: Path, repeat: int, duration: float) -> dict:
    on = PyshelfWith(workdir, "metrics-on", [])
    off = PyshelfWith(workdir, "metrics-off", ["--no-metrics"])
    results: dict = {key: {"c1": [], "c16": [], "cpu_us_c1": [], "cpu_us_c16": []}
                     for key in ("on", "off")}
    for server in (on, off):
        server.init()
        server.start()
        fill(server, 20, 10)
    try:
        page = f"/{HOSTED}/+simple/{project_name(10)}/"
        for repetition in range(repeat):
            # Which goes first alternates, so that a change in the machine's load meets both.
            order = [("on", on), ("off", off)][:: 1 if repetition % 2 == 0 else -1]
            for connections in (1, 16):
                for key, server in order:
                    cpu = cpu_seconds_tree(server.pid)
                    load = run_wrk(server.url + page, connections=connections,
                                   duration=duration, headers={"Accept": "text/html"})
                    used = cpu_seconds_tree(server.pid) - cpu
                    results[key][f"c{connections}"].append(load.rps)
                    # CPU per request is steadier than req/s on a machine busy with other work.
                    results[key][f"cpu_us_c{connections}"].append(
                        used / max(load.requests, 1) * 1e6)
    finally:
        on.stop()
        off.stop()
    summary = {}
    for level in ("c1", "c16", "cpu_us_c1", "cpu_us_c16"):
        with_metrics = statistics.median(results["on"][level])
        without = statistics.median(results["off"][level])
        summary[level] = {"on": with_metrics, "off": without, "on/off": with_metrics / without}
    return {"samples": results, "median": summary}


def measured(command: list[str]) -> tuple[float, int, str]:
    """Seconds and peak RSS (kB) of ``command``, with its output."""
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True,
                          text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    peak = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak, done.stdout.strip()


def dump(workdir: Path) -> dict:
    server = PyshelfWith(workdir, "dump-source", [])
    server.init()
    server.start()
    try:
        started = time.monotonic()
        fill(server, 200, 10)
        fill_seconds = time.monotonic() - started
        target = workdir / "dump"
        # While the server serves, as a backup would run.
        export_s, export_kb, export_out = measured(
            [str(MAIN_BIN / "pyshelf-export"), "--serverdir", str(server.serverdir), str(target)])
    finally:
        server.stop()
    import_s, import_kb, import_out = measured(
        [str(MAIN_BIN / "pyshelf-import"), "--serverdir", str(workdir / "dump-target"),
         str(target)])
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return {"fill_seconds": fill_seconds, "export_seconds": export_s, "export_peak_kb": export_kb,
            "export": export_out, "import_seconds": import_s, "import_peak_kb": import_kb,
            "import": import_out, "dump_bytes": size}


def big_wheel(path: Path, size: int) -> None:
    """A wheel with one stored (uncompressed) member of random bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as wheel:
        with wheel.open("bigpkg/data.bin", "w", force_zip64=True) as member:
            left = size
            while left > 0:
                chunk = os.urandom(min(left, 8 * 1024 * 1024))
                member.write(chunk)
                left -= len(chunk)
        wheel.writestr("bigpkg-1.0.dist-info/METADATA",
                       "Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n")
        wheel.writestr("bigpkg-1.0.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")
        wheel.writestr("bigpkg-1.0.dist-info/RECORD", "")


def parallel_download(url: str, count: int) -> float:
    """Seconds for ``count`` concurrent GETs of ``url``, each read to the end."""
    errors: list[str] = []

    def get() -> None:
        with httpx.stream("GET", url, timeout=300) as response:
            if response.status_code != 200:
                errors.append(str(response.status_code))
            for _ in response.iter_raw(1024 * 1024):
                pass

    threads = [threading.Thread(target=get) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"downloads failed: {errors}")
    return time.monotonic() - started


def nginx_config(prefix: Path, upstream_port: int, listen_port: int, files_dir: Path,
                 static_dir: Path) -> Path:
    """files/nginx/pyshelf.conf on plain HTTP (TLS would cost nginx alone), plus /static/."""
    text = (REPO / "files" / "nginx" / "pyshelf.conf").read_text()
    text = text.replace("server pyshelf:3141;", f"server 127.0.0.1:{upstream_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port};")
    text = text.replace("alias /app/data/server/files/;", f"alias {files_dir}/;")
    text = text.replace("    # Only reachable through X-Accel-Redirect",
                        f"    location /static/ {{ alias {static_dir}/; }}\n\n"
                        "    # Only reachable through X-Accel-Redirect")
    kept = [line for line in text.splitlines()
            if "listen [::]" not in line and "listen 80;" not in line
            and not line.strip().startswith(("ssl_", "add_header Strict"))]
    # The port-80 server block would need port 80: bind it to a free loopback port instead.
    site = "\n".join(kept).replace("server {\n    # The probes", "server {\n"
                                   f"    listen 127.0.0.1:{free_port()};\n    # The probes")
    (prefix / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 2;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n"
        "  include /etc/nginx/mime.types;\n  access_log off;\n  sendfile on;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  include {prefix}/site.conf;\n}}\n")
    return prefix / "nginx.conf"


def download(workdir: Path, size_mb: int, repeat: int) -> dict:
    wheel = workdir / "bigpkg-1.0-py3-none-any.whl"
    big_wheel(wheel, size_mb * 1024 * 1024)
    server = PyshelfWith(workdir, "download", ["--max-upload-size", str(2 * 1024**3)])
    server.init()
    server.start()
    accel = PyshelfWith(workdir, "download-accel", ["--x-accel-redirect", "/+store/"])
    nginx = None
    try:
        setup(server.url)
        token = login(server.url, USER, PASSWORD)
        with open(wheel, "rb") as content:
            response = httpx.post(
                f"{server.url}/{HOSTED}/", headers=token, timeout=600,
                data={":action": "file_upload", "name": "bigpkg", "version": "1.0"},
                files={"content": (wheel.name, content)})
        response.raise_for_status()
        links = httpx.get(f"{server.url}/{HOSTED}/bigpkg/1.0",
                          headers={"Accept": "application/json"}).json()["result"]["+links"]
        path = links[0]["href"].split(server.url, 1)[1]
        seconds: dict[str, list[float]] = {"pyshelf": [], "nginx x-accel": [], "nginx static": []}
        for _ in range(repeat):
            seconds["pyshelf"].append(parallel_download(server.url + path, 8))
        # One process per server directory: the same directory, now behind nginx.
        server.stop()
        accel.serverdir = server.serverdir
        accel.start()
        static_dir = workdir / "static"
        static_dir.mkdir()
        shutil.copyfile(wheel, static_dir / wheel.name)
        prefix = workdir / "nginx"
        prefix.mkdir()
        port = free_port()
        config = nginx_config(prefix, accel.port, port, accel.serverdir / "files", static_dir)
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(config)],
                                 stderr=subprocess.DEVNULL)
        time.sleep(1)
        for _ in range(repeat):
            seconds["nginx x-accel"].append(
                parallel_download(f"http://127.0.0.1:{port}{path}", 8))
            seconds["nginx static"].append(
                parallel_download(f"http://127.0.0.1:{port}/static/{wheel.name}", 8))
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        server.stop()
        accel.stop()
    total_mb = 8 * size_mb
    rates = {name: total_mb / statistics.median(values) for name, values in seconds.items()}
    return {"seconds": seconds, "MB/s": rates,
            "x-accel / pyshelf": rates["nginx x-accel"] / rates["pyshelf"],
            "static / x-accel": rates["nginx static"] / rates["nginx x-accel"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="metrics,dump,download")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    results: dict = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                              capture_output=True, text=True).stdout.strip()}
    with tempfile.TemporaryDirectory(prefix="pyshelf-ops-bench-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        for scenario in args.scenarios.split(","):
            if scenario == "metrics":
                results["metrics"] = metrics(workdir, args.repeat, args.duration)
            elif scenario == "dump":
                results["dump"] = dump(workdir)
            elif scenario == "download":
                results["download"] = download(workdir, args.size_mb, args.repeat)
            else:
                parser.error(f"unknown scenario {scenario!r}")
            print(json.dumps({scenario: results[scenario]}, indent=2), flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"ops-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
