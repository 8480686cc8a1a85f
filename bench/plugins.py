"""The optional plugins' benchmark, run by hand: ``.venv/bin/python bench/plugins.py``.

1. **constrained**: ``root/dev`` holds one project with ``--versions`` versions (one wheel
   each); ``root/plain`` inherits from it, ``root/pinned`` is a constrained index over it
   (``big>=0.100``, ``*``). The simple page of the project (HTML as pip asks for it, and
   PEP 691 JSON) is timed through both.
2. **lockdown**: a small project's simple page on a server without plugins (anonymous) and on
   a server with lockdown (HTTP Basic credentials on every request, as pip sends them).

Each page is asked ``--repeat`` times over one keep-alive connection after a warm-up; the
median and the ratio to the plain page are printed and written to
``bench/results/plugins-<time>.json``. Asserts nothing; not part of ``make test``. Only
127.0.0.1 is spoken to.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from pyshelf_server.testing import LiveServer, basic_auth, make_wheel

HERE = Path(__file__).resolve().parent
PIP = {"Accept": "application/vnd.pypi.simple.v1+html, text/html;q=0.01", "User-Agent": "pip/24"}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": "uv/0.4"}


def timed(client: httpx.Client, url: str, headers: dict[str, str], repeat: int) -> float:
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200, url
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, url
    return statistics.median(samples)


def constrained(workdir: Path, versions: int, repeat: int) -> dict[str, float]:
    server = LiveServer(workdir / "constrained", plugins=["constrained"]).start()
    try:
        server.create_index("root/dev")
        auth = basic_auth("root", server.root_password)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for number in range(versions):
                version = f"0.{number}"
                filename, content = make_wheel("big", version)
                response = client.post(
                    "/root/dev/",
                    headers=auth,
                    data={":action": "file_upload", "name": "big", "version": version},
                    files={"content": (filename, content)},
                )
                assert response.status_code == 200, response.text
            server.create_index("root/plain", bases="root/dev")
            server.create_index("root/pinned", type="constrained", bases="root/dev",
                                constraints="big>=0.100\n*")  # fmt: skip
            figures = {}
            for kind, headers in (("html", PIP), ("json", JSON)):
                for index in ("plain", "pinned"):
                    url = f"/root/{index}/+simple/big/"
                    figures[f"{kind} {index}"] = timed(client, url, headers, repeat)
        return figures
    finally:
        server.stop()


def lockdown(workdir: Path, repeat: int) -> dict[str, float]:
    figures = {}
    for name, plugins in (("plain", []), ("locked", ["lockdown"])):
        server = LiveServer(workdir / name, plugins=plugins).start()
        try:
            server.create_index("root/dev")
            wheel = workdir / "small_pkg-1.0-py3-none-any.whl"
            wheel.write_bytes(make_wheel("small-pkg", "1.0")[1])
            assert server.upload("root/dev", wheel, name="small-pkg", version="1.0").is_success
            headers = dict(PIP)
            if plugins:
                headers.update(basic_auth("root", server.root_password))
            with httpx.Client(base_url=server.url, timeout=60) as client:
                figures[name] = timed(client, "/root/dev/+simple/small-pkg/", headers, repeat)
        finally:
            server.stop()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyshelf-bench-plugins-") as tmp:
        workdir = Path(tmp)
        results = {
            "constrained": constrained(workdir, args.versions, args.repeat),
            "lockdown": lockdown(workdir, args.repeat),
        }
    c, lk = results["constrained"], results["lockdown"]
    print(f"constrained, {args.versions} versions (median ms, ratio to the plain inherited page)")
    for kind in ("html", "json"):
        plain, pinned = c[f"{kind} plain"], c[f"{kind} pinned"]
        print(f"  {kind:5} plain {plain * 1000:7.2f}  constrained {pinned * 1000:7.2f}"
              f"  x{pinned / plain:.2f}")  # fmt: skip
    print("lockdown, small simple page (median ms)")
    print(f"  plain anonymous {lk['plain'] * 1000:.2f}  locked with Basic auth "
          f"{lk['locked'] * 1000:.2f}  x{lk['locked'] / lk['plain']:.2f}")  # fmt: skip
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    report = json.dumps({"args": vars(args), **results}, indent=1)
    (out / f"plugins-{stamp}.json").write_text(report)


if __name__ == "__main__":
    sys.exit(main())
