"""Sample a running server with py-spy while a scenario's load runs, and say where the time goes.

Why py-spy: it attaches to the real ``pyshelf-server`` process from outside, so the profile is
of the same code path the figures measure (waitress threads, real sockets), not of an
in-process imitation.  py-spy is not a dependency of the project: ``--profile`` installs it
into a throwaway venv (``bench/results/.pyspy``) the first time.  A profiled pass is an extra
repetition whose figures are discarded, because sampling slows the server down.

The summary groups the samples of busy threads by their innermost frame ("self") and by every
frame on the stack ("inclusive"), and by library, which is what tells "SQL" from "routing"
from "auth" at a glance.
"""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LIBRARIES = [
    ("argon2", "argon2 / passlib"),
    ("passlib", "argon2 / passlib"),
    ("sqlalchemy", "SQLAlchemy"),
    ("sqlite3", "sqlite3"),
    ("pyramid", "Pyramid"),
    ("webob", "WebOb"),
    ("waitress", "waitress"),
    ("zope", "zope.interface"),
    ("itsdangerous", "itsdangerous"),
    ("pluggy", "pluggy"),
    ("packaging", "packaging"),
    ("pkginfo", "pkginfo"),
    ("pyshelf_server", "pyshelf"),
    ("devpi_server", "devpi-server"),
    ("email", "stdlib email"),
    ("cgi", "stdlib cgi"),
    ("multipart", "multipart"),
    ("hashlib", "hashlib"),
    ("socket", "socket"),
    ("threading", "threading"),
    ("logging", "logging"),
]


OWN_PACKAGES = ("pyshelf_server", "devpi_server")
# frames of the server that merely dispatch (every request passes through them)
DISPATCH = ("fastpath.py", "tweens.py", "SimpleFastPath", "post_to_index")


def _leaf_in_app(frames: list[str]) -> str | None:
    for frame in reversed(frames):
        if not any(d in frame for d in DISPATCH):
            return frame
    return frames[-1] if frames else None


class Profiler:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.pyspy = self._ensure()
        self.profiles: dict[str, Path] = {}

    def _ensure(self) -> Path:
        venv = self.outdir.parent / ".pyspy"
        pyspy = venv / "bin" / "py-spy"
        if not pyspy.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", "py-spy"], check=True, timeout=900
            )
        return pyspy

    @contextlib.contextmanager
    def record(self, pid: int, name: str, seconds: float, idle: bool = False) -> Iterator[None]:
        """Sample ``pid``; ``idle`` also keeps threads blocked outside the GIL (fsync, locks,
        sqlite waits), which is what an upload's wall time is made of."""
        out = self.outdir / f"{name}{'.idle' if idle else ''}.collapsed.txt"
        process = subprocess.Popen(
            [
                str(self.pyspy),
                "record",
                *(["--idle"] if idle else []),
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--duration",
                str(int(seconds) + 1),
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # let it attach before the load starts
        try:
            yield
        finally:
            try:
                process.wait(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=10)
            if out.exists():
                self.profiles[name] = out


def _frames(stack: str) -> list[str]:
    """Function-level frames, outermost first.  The raw format is
    ``func (file:line);func (file:line) count``; line numbers are dropped so that one function
    counts once however many lines of it were sampled."""
    return [
        re.sub(r":\d+\)$", ")", frame)
        for frame in stack.split(";")
        if "(" in frame and not frame.startswith(("thread ", "process "))
    ]


def _library(frame: str) -> str:
    path = frame[frame.find("(") + 1 :]
    for needle, label in LIBRARIES:
        if f"/{needle}/" in path or f"/{needle}." in path or path.startswith(f"{needle}/"):
            return label
    return "other"


def summarise(path: Path, top: int = 15) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    libraries: collections.Counter[str] = collections.Counter()
    # the innermost frame of the server's own code: which of its lines the time is spent under
    own_code: collections.Counter[str] = collections.Counter()
    total = 0
    idle = ".idle." in path.name
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = _frames(stack)
        if not frames:
            continue
        if idle and not any("waitress/channel.py" in frame for frame in frames):
            continue  # an idle worker waiting for a task, the accept loop, a timer thread
        n = int(count)
        total += n
        leaf = frames[-1]
        own[leaf] += n
        libraries[_library(leaf)] += n
        for frame in set(frames):
            inclusive[frame] += n
        mine = [f for f in frames if any(f"{pkg}/" in f for pkg in OWN_PACKAGES)]
        own_code[_leaf_in_app(mine) or "(outside the server's code)"] += n
    if not total:
        return f"{path.name}: no samples"
    kind = "samples of threads serving a request, waiting or not" if idle else "busy samples"
    out = [f"{path.name}: {total} {kind}"]
    out.append(
        "  by library (innermost frame): "
        + ", ".join(f"{label} {100 * n / total:.0f}%" for label, n in libraries.most_common(10))
    )
    out.append("  top self:")
    out += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    out.append("  innermost frame of the server's own code:")
    out += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own_code.most_common(top)]
    out.append("  top inclusive, the server's own code:")
    mine = [(f, n) for f, n in inclusive.most_common() if any(f"{p}/" in f for p in OWN_PACKAGES)]
    out += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in mine[:top]]
    return "\n".join(out)
