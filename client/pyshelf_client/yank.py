"""mark a release (or one of its files) yanked on the current index (PEP 592)

    pyshelf yank NAME==VERSION [--reason TEXT] [--file FILENAME]

A yanked file stays installable with an exact pin (NAME==VERSION) and is marked yanked on
every index inheriting from this one. A release the index only inherits (from a mirror) is
yanked for this index and those inheriting from it; the index holding it is left as it is.
"""

from __future__ import annotations

import argparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import ClientError, ServerError
from .hub import Hub

COMMAND = "yank"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="NAME==VERSION")
    parser.add_argument("--reason", help="why it is yanked (shown to installers)")
    add_common_arguments(parser)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", metavar="FILENAME", help="only this file of the release")
    parser.add_argument("--index", metavar="USER/INDEX", help="on this index instead")


def name_and_version(spec: str) -> tuple[str, str]:
    try:
        requirement = Requirement(spec)
    except InvalidRequirement:
        raise ClientError(f"expected NAME==VERSION, not {spec!r}") from None
    pins = [s for s in requirement.specifier if s.operator in ("==", "===")]
    if len(pins) != 1 or len(requirement.specifier) != 1 or "*" in pins[0].version:
        raise ClientError(f"expected NAME==VERSION, not {spec!r}")
    return canonicalize_name(requirement.name), pins[0].version


def set_yanked(hub: Hub, args: argparse.Namespace, *, yanked: bool) -> int:
    name, version = name_and_version(args.spec)
    ref = hub.index_ref(args.index)
    body: dict[str, object] = {"yanked": yanked}
    if yanked and args.reason:
        body["reason"] = args.reason
    if args.file:
        body["filename"] = args.file
    verb = "yank" if yanked else "unyank"
    reply = hub.request("PATCH", f"{ref.url}/{name}/{version}", json=body, ok=None)
    if reply.status != 200:
        raise ServerError(
            hub.describe_error(reply, what=f"{verb} {name} {version}"),
            status=reply.status,
            server_message=reply.message,
        )
    files = (reply.result or {}).get("files", [])
    hub.line(f"{verb}ed {name} {version} on {ref.name}: {', '.join(files)}")
    return 0


def main(hub: Hub, args: argparse.Namespace) -> int:
    return set_yanked(hub, args, yanked=True)
