"""copy a release (files, metadata, docs) to another index on the same server

pyshelf push NAME==VERSION USER/INDEX
"""

from __future__ import annotations

import argparse
from typing import Any

from packaging.utils import canonicalize_name

from .errors import ClientError, ServerError, UsageError
from .hub import Hub
from .listing import parse_spec

COMMAND = "push"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="NAME==VERSION")
    parser.add_argument("target", metavar="USER/INDEX", help="the index to push to")
    parser.add_argument("--index", metavar="USER/INDEX", help="push from this index instead")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--no-docs", action="store_true", help="do not push the documentation")
    docs.add_argument("--only-docs", action="store_true", help="push only the documentation")


def parse_pin(text: str) -> tuple[str, str]:
    requirement = parse_spec(text)
    specs = list(requirement.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "==="):
        raise UsageError(f"{text!r} must name one version: NAME==VERSION")
    return canonicalize_name(requirement.name), specs[0].version


def main(hub: Hub, args: argparse.Namespace) -> int:
    name, version = parse_pin(args.spec)
    target = args.target.strip("/")
    if target.count("/") != 1 or "://" in target:
        raise UsageError(f"target {args.target!r} must be USER/INDEX on the same server")
    ref = hub.index_ref(args.index)
    body: dict[str, Any] = {"name": name, "version": version, "targetindex": target}
    for option, feature in (("no_docs", "push-no-docs"), ("only_docs", "push-only-docs")):
        if getattr(args, option):
            if feature not in (ref.features or hub.current.features):
                raise UsageError(f"the server does not support --{option.replace('_', '-')}")
            body[option] = True
    reply = hub.request("PUSH", ref.url, json=body, ok=None)
    failed = reply.status not in (200, 201)
    entries = reply.result if reply.type == "actionlog" and isinstance(reply.result, list) else []
    for entry in entries:
        hub.line(" ".join(str(part) for part in entry))
        if entry and entry[0] not in (200, 201, 410):
            failed = True
    if failed:
        if reply.status in (200, 201):
            raise ClientError(f"push of {name} {version} to {target} failed")
        raise ServerError(
            hub.describe_error(reply, what=f"push {name} {version} to {target}"),
            status=reply.status,
            server_message=reply.message,
        )
    hub.line(f"pushed {name} {version} from {ref.name} to {target}")
    return 0
