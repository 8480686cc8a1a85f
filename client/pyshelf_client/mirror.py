"""work on a mirror index: `pyshelf mirror warm` downloads into it what a requirements or lock
file names, so that installs work later without upstream

  pyshelf mirror warm --index root/pypi -r requirements.txt
  pyshelf mirror warm --index root/pypi --uv-lock uv.lock
  pyshelf mirror warm --index root/pypi --pylock pylock.toml

A requirements file warms every file (all platforms, sdists too) of the versions each
requirement admits; dependencies are not resolved, so list them all (pip freeze, uv pip
compile). A lock file warms exactly the files it pins. The server does the downloading; what
could not be fetched is listed, and the exit code is 1 then.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .errors import UsageError
from .hub import Hub

COMMAND = "mirror"
# A project's files are downloaded by the server while the request waits.
WARM_TIMEOUT = 3600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="mirror_action", metavar="ACTION", required=True)
    warm = actions.add_parser(
        "warm", help="download into a mirror every file a requirements or lock file names"
    )
    source = warm.add_mutually_exclusive_group(required=True)
    source.add_argument("-r", "--requirement", metavar="FILE", type=Path,
                        help="a requirements file: the files of every version it admits")
    source.add_argument("--uv-lock", metavar="FILE", type=Path,
                        help="a uv.lock: exactly the files it pins")
    source.add_argument("--pylock", metavar="FILE", type=Path,
                        help="a PEP 751 pylock.toml: exactly the files it pins")
    warm.add_argument("--index", metavar="USER/INDEX",
                      help="the mirror to warm (default: the index in use)")


def main(hub: Hub, args: argparse.Namespace) -> int:
    if args.requirement is not None:
        projects, skipped = read_requirements(args.requirement)
    elif args.uv_lock is not None:
        projects, skipped = read_uv_lock(args.uv_lock)
    else:
        projects, skipped = read_pylock(args.pylock)
    for line in skipped:
        hub.warn(f"skipped {line}")
    ref = hub.index_ref(args.index)
    fetched = cached = 0
    failed: list[dict[str, Any]] = []
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"warming {ref.name}", total=len(projects))
        for entry in projects:
            progress.update(task, description=f"warming {ref.name}: {entry['name']}")
            reply = hub.request(
                "POST", f"{ref.url}/+warm", json={"projects": [entry]},
                timeout=WARM_TIMEOUT, what=f"warm {entry['name']} on {ref.name}",
            )
            outcome = reply.result or {}
            fetched += len(outcome.get("fetched", []))
            cached += len(outcome.get("cached", []))
            failed.extend(outcome.get("failed", []))
            progress.advance(task)
    hub.line(
        f"{ref.name}: files fetched {fetched}, already cached {cached}, "
        f"not fetched {len(failed)}"
    )
    for failure in failed:
        where = failure.get("filename") or failure.get("project")
        hub.line(f"  not fetched: {where}: {failure.get('error')}")
    return 1 if failed else 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None


def _logical_lines(text: str) -> list[str]:
    """Lines with continuations joined and comments dropped, as pip reads them."""
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            current += raw[:-1] + " "
            continue
        line = current + raw
        current = ""
        if line.lstrip().startswith("#"):
            continue
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if line:
            lines.append(line)
    if current.strip():
        lines.append(current.strip())
    return lines


def _nested_file(line: str) -> str | None:
    """The file a ``-r`` line names, or None for other lines."""
    for prefix in ("--requirement=", "--requirement ", "-r"):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def read_requirements(
    path: Path, seen: set[Path] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """One entry per project ({"name", "specifier"}; several requirements of one project are
    joined), and the lines skipped with why. ``-r`` files are followed."""
    seen = seen if seen is not None else set()
    seen.add(path.resolve())
    specifiers: dict[str, list[str]] = {}
    skipped: list[str] = []
    for line in _logical_lines(_read(path)):
        nested = _nested_file(line)
        if nested is not None:
            target = (path.parent / nested).resolve()
            if target not in seen:
                entries, more = read_requirements(target, seen)
                for entry in entries:
                    specifiers.setdefault(entry["name"], []).append(entry["specifier"])
                skipped.extend(more)
            continue
        if line.startswith("-"):
            skipped.append(f"{path.name}: {line} (an option, not a requirement)")
            continue
        # pip's per-requirement options (--hash=…) follow the requirement.
        requirement_text = line.split(" --", 1)[0].strip()
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as error:
            raise UsageError(f"{path}: invalid requirement {line!r}: {error}") from None
        if requirement.url:
            skipped.append(f"{path.name}: {line} (a direct URL, not from an index)")
            continue
        # Markers are ignored: the mirror serves every platform.
        specifiers.setdefault(canonicalize_name(requirement.name), []).append(
            str(requirement.specifier)
        )
    entries = [
        {"name": name, "specifier": ",".join(s for s in specs if s)}
        for name, specs in specifiers.items()
    ]
    return entries, skipped


def _filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_read(path))
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path} is not valid TOML: {error}") from None


def _entries(files: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"name": name, "files": names} for name, names in files.items() if names]


def read_uv_lock(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The files each package of a uv.lock pins (its sdist and wheels)."""
    data = _load_toml(path)
    files: dict[str, list[str]] = {}
    skipped = []
    for package in data.get("package") or []:
        name = canonicalize_name(str(package.get("name", "")))
        pinned = [package["sdist"]] if isinstance(package.get("sdist"), dict) else []
        pinned += [w for w in package.get("wheels") or [] if isinstance(w, dict)]
        names = [_filename(f["url"]) for f in pinned if isinstance(f.get("url"), str)]
        if not names:
            source = package.get("source") or {}
            if "registry" in source:
                skipped.append(f"{path.name}: {name} (no files listed)")
            continue  # the project itself, a path or a VCS checkout: not on an index
        files.setdefault(name, []).extend(names)
    return _entries(files), skipped


def read_pylock(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The files each package of a PEP 751 lock file pins (its sdist and wheels)."""
    data = _load_toml(path)
    files: dict[str, list[str]] = {}
    skipped = []
    for package in data.get("packages") or []:
        name = canonicalize_name(str(package.get("name", "")))
        pinned = [package["sdist"]] if isinstance(package.get("sdist"), dict) else []
        pinned += [w for w in package.get("wheels") or [] if isinstance(w, dict)]
        names = []
        for entry in pinned:
            if isinstance(entry.get("name"), str):
                names.append(entry["name"])
            elif isinstance(entry.get("url"), str):
                names.append(_filename(entry["url"]))
        if not names:
            skipped.append(f"{path.name}: {name} (no sdist or wheels: a VCS, directory or "
                           "archive source)")
            continue
        files.setdefault(name, []).extend(names)
    return _entries(files), skipped
