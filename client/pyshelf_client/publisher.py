"""add, list or remove the trusted publishers (CI workflows) of an index

    pyshelf publisher add PROVIDER key=value ... projects=NAME,NAME   trust a CI workflow
    pyshelf publisher list                                           list the index's publishers
    pyshelf publisher remove NUMBER                                  remove one (as listed)

PROVIDER and its keys, as the server's 'trusted_publishers' index option has them:
  github  owner= owner_id= repository= workflow= [environment=] [issuer=]
  gitlab  namespace= project= workflow_filepath= [environment=] [issuer=]
  google  email= [sub=] [issuer=]
projects= names what the workflow may publish to the index, including names not there yet.
Each command acts on the current index unless --index says another.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .errors import UsageError
from .hub import Hub
from .index import fetch
from .options import parse_keyvalues

COMMAND = "publisher"
OPTION = "trusted_publishers"
PROVIDERS = ("github", "gitlab", "google")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("add", "list", "remove"))
    parser.add_argument(
        "arguments", nargs="*", metavar="ARG", help="add: PROVIDER key=value ...; remove: NUMBER"
    )
    parser.add_argument("--index", metavar="USER/INDEX", help="act on this index instead")


def main(hub: Hub, args: argparse.Namespace) -> int:
    ref = hub.index_ref(args.index)
    if args.action == "list":
        if args.arguments:
            raise UsageError("publisher list takes no arguments")
        show(hub, ref.name, fetch(hub, ref).get(OPTION) or [])
        return 0
    if args.action == "add":
        if not args.arguments or args.arguments[0] not in PROVIDERS:
            raise UsageError(f"publisher add needs a PROVIDER first: {', '.join(PROVIDERS)}")
        entry: dict[str, Any] = {"provider": args.arguments[0]}
        for kv in parse_keyvalues(args.arguments[1:]):
            entry[kv.key] = kv.value
        operation = f"{OPTION}+={json.dumps(entry)}"
        what = f"add a publisher to {ref.name}"
    else:
        current = fetch(hub, ref).get(OPTION) or []
        if len(args.arguments) != 1 or not args.arguments[0].isdigit():
            raise UsageError("publisher remove needs the NUMBER 'publisher list' shows")
        number = int(args.arguments[0])
        if not 1 <= number <= len(current):
            raise UsageError(f"{ref.name} has no publisher number {number}")
        operation = f"{OPTION}-={json.dumps(current[number - 1])}"
        what = f"remove publisher {number} of {ref.name}"
    # One operation the server applies to the list as it stands: no lost concurrent change.
    hub.request("PATCH", ref.url, json=[operation], what=what)
    show(hub, ref.name, fetch(hub, ref).get(OPTION) or [])
    return 0


def describe(entry: dict[str, Any]) -> str:
    fields = " ".join(
        f"{key}={value}"
        for key, value in entry.items()
        if key not in ("provider", "projects", "issuer")
    )
    return f"{entry.get('provider')} {fields} projects={','.join(entry.get('projects') or [])}"


def show(hub: Hub, name: str, entries: list[dict[str, Any]]) -> None:
    if not entries:
        hub.line(f"{name} trusts no publisher")
        return
    hub.line(f"trusted publishers of {name}:")
    for number, entry in enumerate(entries, 1):
        hub.line(f"  {number}. {describe(entry)}")
        hub.line(f"     issuer={entry.get('issuer')}")
