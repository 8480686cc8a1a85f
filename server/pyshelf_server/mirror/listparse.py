"""Turning upstream's project list (PEP 691 JSON or PEP 503 HTML, ~a million names) into the
blob the mirror stores: normalised, unique, sorted names, one per line (see ``projectlist``).

The work is done in a child process (``python -m pyshelf_server.mirror.listparse IN OUT
CONTENT_TYPE``): parsing needs a million Python strings, a set and a sorted list at once, a few
hundred MB that CPython would keep for good in a long-running server. The child reads the
downloaded body from IN, writes the blob to OUT (fsynced) and prints its sha256, size and name
count as JSON; its memory goes back to the system when it exits. An unusable body makes it exit
with status 3 and the reason on stderr.

This module imports nothing heavy, so the child starts fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..names import normalize_name
from .markup import is_json, list_anchor_names
from .projectlist import encode_names

# Exit status of the child for a body that is no project list.
CONTENT_ERROR = 3
# Parsing a million names takes a few seconds; a busy machine may need many times that.
TIMEOUT = 600.0


class ListContentError(ValueError):
    """The body is no project list (its message says why)."""


class ListBuildError(RuntimeError):
    """The child process failed for another reason (killed, timed out, out of memory)."""


@dataclass(frozen=True)
class BuiltList:
    sha256: str
    size: int
    count: int


def _name_only(pairs: list[tuple[str, Any]]) -> Any:
    # Called for every JSON object of the list: project entries collapse to their name at
    # once, so ~a million small dicts never exist together.
    for key, value in pairs:
        if key == "name" and isinstance(value, str):
            return value
    return dict(pairs)


def parse_project_list(body: bytes, content_type: str) -> list[str]:
    """Normalised, sorted, unique project names from a PEP 691 JSON or PEP 503 HTML list."""
    if is_json(content_type, body):
        try:
            doc = json.loads(body, object_pairs_hook=_name_only)
        except (ValueError, RecursionError):
            raise ListContentError("upstream sent an invalid JSON project list") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("projects"), list):
            raise ListContentError("upstream sent no PEP 691 project list")
        raw: Iterable[str] = (n for n in doc["projects"] if isinstance(n, str))
    else:
        raw = list_anchor_names(body)
    names = {normalize_name(n.strip().strip("/")) for n in raw}
    names.discard("")
    names.discard("-")
    return sorted(names)


def write_list(names: list[str], out: Path) -> BuiltList:
    """Write the blob of ``names`` (sorted, unique, normalised) to ``out``, fsynced."""
    data = encode_names(names)
    with open(out, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return BuiltList(sha256=hashlib.sha256(data).hexdigest(), size=len(data), count=len(names))


def build_list(body_path: Path, out: Path, content_type: str, *,
               timeout: float = TIMEOUT) -> BuiltList:
    """Run the child on the downloaded ``body_path``, which writes the blob to ``out``.

    Raises :class:`ListContentError` for a body that is no project list and
    :class:`ListBuildError` when the child fails otherwise.
    """
    command = [sys.executable, "-m", __name__, str(body_path), str(out), content_type]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ListBuildError(f"parsing the project list took more than {timeout:.0f}s") from None
    except OSError as error:
        raise ListBuildError(f"cannot start the list parser: {error}") from None
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == CONTENT_ERROR:
        raise ListContentError(message.splitlines()[-1] if message else "unusable project list")
    if done.returncode != 0:
        last = message.splitlines()[-1] if message else f"exit status {done.returncode}"
        raise ListBuildError(f"the list parser failed: {last}")
    try:
        report = json.loads(done.stdout)
        return BuiltList(sha256=str(report["sha256"]), size=int(report["size"]),
                         count=int(report["count"]))
    except (ValueError, KeyError, TypeError):
        raise ListBuildError("the list parser gave no usable report") from None


# The child's niceness: its seconds of CPU give way to the server's requests (and to the
# installers on the same machine).
NICENESS = 10


def _lower_priority() -> None:
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # no nice() here, or not allowed: parse at full speed
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m pyshelf_server.mirror.listparse IN OUT CONTENT_TYPE",
              file=sys.stderr)
        return 2
    body_path, out, content_type = argv
    _lower_priority()
    body = Path(body_path).read_bytes()
    try:
        names = parse_project_list(body, content_type)
    except ListContentError as error:
        print(error, file=sys.stderr)
        return CONTENT_ERROR
    del body
    built = write_list(names, Path(out))
    print(json.dumps({"sha256": built.sha256, "size": built.size, "count": built.count}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
