"""list the projects of the index, or the files of a project

pyshelf list                    the projects uploaded to the index
pyshelf list NAME[SPECIFIER]    the files of the newest matching version (--all: every one)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import ClientError, ServerError, UsageError
from .hub import Hub, IndexRef

COMMAND = "list"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC", help="NAME or NAME>=1.0 and so on")
    parser.add_argument(
        "--all", action="store_true", help="show every matching version, not only the newest"
    )
    parser.add_argument(
        "-f",
        "--failures",
        action="store_true",
        help="show the test results (tox) attached to each file, with failure output",
    )
    parser.add_argument("--index", metavar="USER/INDEX", help="list this index instead")
    parser.add_argument(
        "--ignore-bases", action="store_true", help="leave out files inherited from bases"
    )


def parse_spec(text: str) -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(f"invalid SPEC {text!r}: {exc}") from None
    if requirement.url or requirement.extras or requirement.marker:
        raise UsageError(f"SPEC {text!r} may only hold a name and version specifiers")
    return requirement


def sort_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def matching_versions(
    versions: list[str], requirement: Requirement, *, all_versions: bool
) -> list[str]:
    """The versions the specifier accepts, newest first; only the newest unless all."""
    matched = []
    for version in versions:
        try:
            ok = requirement.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            ok = not requirement.specifier
        if ok:
            matched.append(version)
    matched.sort(key=sort_key, reverse=True)
    return matched if all_versions else matched[:1]


def get_project(hub: Hub, ref: IndexRef, name: str, *, ignore_bases: bool) -> dict[str, Any]:
    url = f"{ref.url}/{name}/"
    params = {"ignore_bases": ""} if ignore_bases else None
    reply = hub.request("GET", url, params=params, ok=None)
    if reply.status == 404:
        raise ServerError(
            f"project {name!r} not found on {ref.name}", status=404, server_message=reply.message
        )
    if reply.status >= 400:
        raise ServerError(
            hub.describe_error(reply, what=f"GET {url}"),
            status=reply.status,
            server_message=reply.message,
        )
    if reply.type != "projectconfig" or not isinstance(reply.result, dict):
        raise ClientError(f"unexpected answer for {url}: type {reply.type!r}")
    return reply.result


def main(hub: Hub, args: argparse.Namespace) -> int:
    ref = hub.index_ref(args.index)
    if not args.spec:
        reply = hub.get_json(ref.url, what=f"list {ref.name}")
        for project in (reply.result or {}).get("projects") or []:
            hub.line(project)
        return 0
    requirement = parse_spec(args.spec)
    name = canonicalize_name(requirement.name)
    project = get_project(hub, ref, name, ignore_bases=args.ignore_bases)
    versions = matching_versions(list(project), requirement, all_versions=args.all)
    if not versions:
        raise ClientError(f"no version of {name} on {ref.name} matches {args.spec!r}")
    for version in versions:
        data = project[version] or {}
        for verdata in [data, *(data.get("+shadowing") or [])]:
            show_links(hub, verdata.get("+links") or [], failures=args.failures)
    return 0


def show_links(hub: Hub, links: list[dict[str, Any]], *, failures: bool) -> None:
    for link in links:
        rel = link.get("rel")
        if rel == "releasefile":
            hub.line(str(link.get("href")))
            if failures:
                show_toxresults(hub, link, links)
        elif rel == "doczip":
            hub.line(f"{link.get('href')} (documentation)")


def show_toxresults(hub: Hub, release: dict[str, Any], links: list[dict[str, Any]]) -> None:
    for link in links:
        if link.get("rel") != "toxresult" or link.get("for_href") != release.get("href"):
            continue
        # Asking for JSON would get the file's metadata; the result itself is the file.
        reply = hub.request("GET", str(link["href"]), accept_json=False, ok=None)
        data = reply.data if reply.is_json else _parse_json(reply.text)
        if not isinstance(data, dict):
            hub.line(f"  tox result {link['href']}: unreadable ({reply.status})")
            continue
        host = data.get("host", "?")
        platform = data.get("platform", "?")
        for env, result in sorted((data.get("testenvs") or {}).items()):
            failed = [
                step
                for phase in ("setup", "test")
                for step in (result or {}).get(phase) or []
                if str(step.get("retcode", "0")) != "0"
            ]
            status = "FAILED" if failed else "passed"
            hub.line(f"  {env} {host} {platform}: tests {status}")
            for step in failed:
                hub.line(f"    command {step.get('command')} exited {step.get('retcode')}:")
                for text in str(step.get("output", "")).splitlines():
                    hub.line(f"      {text}")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
