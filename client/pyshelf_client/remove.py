"""remove versions, a whole project, or one file from the index

    pyshelf remove NAME             every version of NAME on this index
    pyshelf remove "NAME<2.0"       the matching versions
    pyshelf remove FILE_URL         one file

Only what the index itself holds is removed, never files of its bases. Removing from a
non-volatile index needs --force (and the permission to use it).
"""

from __future__ import annotations

import argparse

from packaging.utils import canonicalize_name

from .errors import ClientError, ServerError
from .hub import Hub
from .listing import get_project, matching_versions, parse_spec

COMMAND = "remove"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec", metavar="SPEC|URL", help="NAME, NAME with specifiers, or a file URL"
    )
    parser.add_argument(
        "--force", action="store_true", help="remove even from a non-volatile index"
    )
    parser.add_argument("--index", metavar="USER/INDEX", help="remove from this index instead")


def _delete(hub: Hub, url: str, *, force: bool, what: str) -> None:
    reply = hub.request("DELETE", url, params={"force": ""} if force else None, ok=None)
    if reply.status in (200, 201):
        hub.line(f"removed {what}")
        return
    message = hub.describe_error(reply, what=f"remove {what}")
    if reply.status == 403 and not force and "volatile" in reply.message:
        message += " (use --force to remove from a non-volatile index)"
    raise ServerError(message, status=reply.status, server_message=reply.message)


def main(hub: Hub, args: argparse.Namespace) -> int:
    if "://" in args.spec:
        if not hub.confirm(f"remove {args.spec}?"):
            raise ClientError("nothing removed")
        _delete(hub, args.spec, force=args.force, what=args.spec)
        return 0
    ref = hub.index_ref(args.index)
    requirement = parse_spec(args.spec)
    name = canonicalize_name(requirement.name)
    project = get_project(hub, ref, name, ignore_bases=True)
    prefix = ref.url + "/"
    versions = [
        version
        for version in matching_versions(list(project), requirement, all_versions=True)
        if any(
            str(link.get("href", "")).startswith(prefix)
            for link in (project[version] or {}).get("+links") or []
        )
        or not (project[version] or {}).get("+links")
    ]
    if not versions:
        raise ClientError(f"no version of {name} on {ref.name} matches {args.spec!r}")
    hub.line(f"about to remove from {ref.name}:")
    for version in versions:
        links = (project[version] or {}).get("+links") or []
        hub.line(f"  {name} {version}")
        for link in links:
            hub.line(f"    {link.get('href')}")
    if not hub.confirm(f"remove {len(versions)} version(s) of {name}?"):
        raise ClientError("nothing removed")
    if not requirement.specifier:
        _delete(hub, f"{ref.url}/{name}/", force=args.force, what=f"project {name}")
        return 0
    for version in versions:
        _delete(hub, f"{ref.url}/{name}/{version}", force=args.force, what=f"{name} {version}")
    return 0
