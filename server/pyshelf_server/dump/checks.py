"""Reading a dump and checking it before the import writes anything: the dump version, the
shape of ``dataindex.json``, every user and index name, the index types, the order of the
indexes by their bases (no cycles), and pyshelf's own facts about each stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..names import user_or_index_name_error
from . import inherited_yanks, version_dates

DUMP_VERSIONS = ("1", "2")


class DumpError(Exception):
    """The dump or folder cannot be imported; the message says why. Nothing was written."""


def load_dump(dump: Path) -> dict[str, Any]:
    path = dump / "dataindex.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DumpError(f"{dump} holds no dataindex.json: not a pyshelf or devpi export") from None
    except ValueError as error:
        raise DumpError(f"{path} is not valid JSON: {error}") from None
    version = data.get("dumpversion") if isinstance(data, dict) else None
    if version not in DUMP_VERSIONS:
        raise DumpError(f"dump version {version!r} is not one of {', '.join(DUMP_VERSIONS)}")
    if not isinstance(data.get("users"), dict) or not isinstance(data.get("indexes"), dict):
        raise DumpError(f"{path} lacks its users or indexes")
    for kind in ("users", "indexes"):
        for name, record in data[kind].items():
            if not isinstance(record, dict):
                raise DumpError(f"{path}: {kind} entry {name!r} is not an object")
    return data


def base_first(indexes: dict[str, Any], notes: list[str]) -> list[str]:
    """The index names with every index after its bases; bases missing from the dump are
    dropped (with a note), a cycle is an error."""
    bases: dict[str, list[str]] = {}
    for name, entry in indexes.items():
        wanted = list((entry.get("indexconfig") or {}).get("bases") or [])
        present = [base for base in wanted if base in indexes]
        for missing in set(wanted) - set(present):
            notes.append(f"{name}: base {missing} is not in the dump; dropped")
        bases[name] = present
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise DumpError("the bases form a cycle: " + " -> ".join([*path, name]))
        state[name] = "visiting"
        for base in bases[name]:
            visit(base, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in sorted(indexes):
        visit(name, [])
    return order


def check_names(data: dict[str, Any], index_types: set[str]) -> None:
    problems = []
    for name in data["users"]:
        error = user_or_index_name_error(name)
        if error:
            problems.append(f"user {name!r}: {error}")
    unknown = set()
    for fullname, entry in data["indexes"].items():
        user, _, index = fullname.partition("/")
        if user not in data["users"]:
            problems.append(f"index {fullname!r}: its user is not in the dump")
        for part in (user, index):
            error = user_or_index_name_error(part)
            if error:
                problems.append(f"index {fullname!r}: {error}")
        kind = (entry.get("indexconfig") or {}).get("type", "stage")
        if kind not in index_types:
            unknown.add(kind)
    if unknown:
        problems.append(
            "index types this server does not know (install the plugin that adds them): "
            + ", ".join(sorted(unknown))
        )
    if problems:
        raise DumpError("; ".join(problems))


def read_pyshelf_facts(indexes: dict[str, Any]) -> dict[str, tuple[list[Any], Any]]:
    """What an export keeps of a stage under its ``pyshelf`` key (devpi's dumps have none):
    its inherited yanks and when its versions were created, by index name."""
    facts = {}
    for fullname, entry in indexes.items():
        own = entry.get("pyshelf") or {}
        try:
            if not isinstance(own, dict):
                raise ValueError('"pyshelf" must be an object')
            facts[fullname] = (inherited_yanks.read(own), version_dates.read(own))
        except ValueError as error:
            raise DumpError(f"index {fullname}: {error}") from None
    return facts
