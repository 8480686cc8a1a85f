"""create, modify, show, list or delete indexes

    pyshelf index -c NAME [key=value ...]         create (bases=root/pypi volatile=False ...)
    pyshelf index [-m] NAME key=value|key+=value|key-=value ...   modify
    pyshelf index [NAME]                          show (default: the current index)
    pyshelf index -l [USER]                       list a user's indexes
    pyshelf index --delete NAME [-y]              delete

NAME is USER/INDEX, or INDEX of the logged-in user. Values are passed to the server as
strings; it checks the keys and converts the values (volatile=False, bases=a/b,c/d).
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import ClientError, UsageError
from .hub import Hub, IndexRef
from .options import apply_operations, parse_keyvalues

COMMAND = "index"
FIRST_KEYS = ("type", "bases", "volatile", "acl_upload")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-c", "--create", action="store_true", help="create the index NAME")
    group.add_argument("-m", "--modify", action="store_true", help="modify the index NAME")
    group.add_argument("-l", "--list", action="store_true", help="list the indexes of a user")
    group.add_argument("--delete", action="store_true", help="delete the index NAME")
    parser.add_argument("name", nargs="?", metavar="NAME")
    parser.add_argument("keyvalues", nargs="*", metavar="key=value")


def main(hub: Hub, args: argparse.Namespace) -> int:
    name = args.name or ""
    keyvalues_raw = list(args.keyvalues)
    if "=" in name:
        # `pyshelf index volatile=False` modifies the current index.
        keyvalues_raw.insert(0, name)
        name = ""
    if args.list:
        if keyvalues_raw:
            raise UsageError("index -l takes only an optional USER")
        return list_indexes(hub, name or hub.require_user())
    if args.create:
        if not name:
            raise UsageError("index -c needs an index NAME")
        return create(hub, hub.index_ref(name), parse_keyvalues(keyvalues_raw))
    if args.delete:
        if not name:
            raise UsageError("index --delete needs an index NAME")
        if keyvalues_raw:
            raise UsageError("index --delete takes no key=value arguments")
        return delete(hub, hub.index_ref(name))
    ref = hub.index_ref(name or None)
    if args.modify or keyvalues_raw:
        keyvalues = parse_keyvalues(keyvalues_raw, list_ops=True)
        if not keyvalues:
            raise UsageError("index -m needs at least one key=value")
        return modify(hub, ref, keyvalues)
    show(hub, ref, fetch(hub, ref))
    return 0


def fetch(hub: Hub, ref: IndexRef) -> dict[str, Any]:
    reply = hub.get_json(ref.url, params={"no_projects": ""}, what=f"get index {ref.name}")
    if reply.type != "indexconfig" or not isinstance(reply.result, dict):
        raise ClientError(f"unexpected answer for index {ref.name}: type {reply.type!r}")
    return reply.result


def create(hub: Hub, ref: IndexRef, keyvalues: list) -> int:
    body = {kv.key: kv.value for kv in keyvalues}
    hub.request("PUT", ref.url, json=body, what=f"create index {ref.name}")
    hub.line(f"index {ref.name} created")
    show(hub, ref, fetch(hub, ref))
    return 0


def modify(hub: Hub, ref: IndexRef, keyvalues: list) -> int:
    config = fetch(hub, ref)
    features = ref.features or hub.current.features
    if "server-keyvalue-parsing" in features:
        body: Any = [str(kv) for kv in keyvalues]
    else:
        # Older servers only take a whole config; apply the operations here.
        body = apply_operations(config, keyvalues)
        body.pop("projects", None)
    hub.request("PATCH", ref.url, json=body, what=f"modify index {ref.name}")
    hub.line(f"index {ref.name} modified")
    show(hub, ref, fetch(hub, ref))
    return 0


def delete(hub: Hub, ref: IndexRef) -> int:
    if not hub.confirm(f"delete index {ref.name} and all its packages?"):
        raise ClientError("not deleted")
    hub.request("DELETE", ref.url, what=f"delete index {ref.name}")
    hub.line(f"index {ref.name} deleted")
    if hub.current.index == ref.url:
        hub.warn("that was the current index: run 'pyshelf use' with another one")
    return 0


def _format(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def show(hub: Hub, ref: IndexRef, config: dict[str, Any]) -> None:
    hub.line(f"{ref.url}:")
    for key in FIRST_KEYS:
        if key in config:
            hub.line(f"  {key}={_format(config[key])}")
    for key in sorted(config):
        if key in FIRST_KEYS or key == "projects":
            continue
        hub.line(f"  {key}={_format(config[key])}")


def list_indexes(hub: Hub, user: str) -> int:
    reply = hub.get_json(hub.url_for(user), what=f"list indexes of {user}")
    result = reply.result if isinstance(reply.result, dict) else {}
    username = result.get("username", user)
    for name in sorted(result.get("indexes") or {}):
        hub.line(f"{username}/{name}")
    return 0
