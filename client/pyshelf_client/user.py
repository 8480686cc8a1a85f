"""create, modify, show, list or delete users

pyshelf user -c NAME password=PW [email=ADDR] ...   create a user
pyshelf user -m NAME key=value ...                  modify a user
pyshelf user [NAME]                                 show a user (default: yourself)
pyshelf user -l                                     list all users
pyshelf user --delete NAME [-y]                     delete a user and their indexes
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any

from .config import Login
from .errors import ClientError, UsageError
from .hub import Hub
from .options import check_keys, parse_keyvalues

COMMAND = "user"
USER_KEYS = ("password", "pwhash", "email", "title", "description", "custom_data", "read_only")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-c", "--create", action="store_true", help="create the user NAME")
    group.add_argument("-m", "--modify", action="store_true", help="modify the user NAME")
    group.add_argument("-l", "--list", action="store_true", help="list all users")
    group.add_argument("--delete", action="store_true", help="delete the user NAME")
    parser.add_argument("username", nargs="?", metavar="NAME")
    parser.add_argument(
        "keyvalues",
        nargs="*",
        metavar="key=value",
        help=f"user options: {', '.join(USER_KEYS)}",
    )


def main(hub: Hub, args: argparse.Namespace) -> int:
    if args.list:
        if args.username or args.keyvalues:
            raise UsageError("user -l takes no further arguments")
        return list_users(hub)
    name = args.username or ""
    if "=" in name:
        raise UsageError(f"expected a user name before {name!r}")
    keyvalues = parse_keyvalues(args.keyvalues)
    check_keys(keyvalues, USER_KEYS, "user")
    values = {kv.key: kv.value for kv in keyvalues}
    if args.create:
        return create(hub, _required(name, "-c"), values)
    if args.modify:
        return modify(hub, _required(name, "-m"), values)
    if args.delete:
        if keyvalues:
            raise UsageError("user --delete takes no key=value arguments")
        return delete(hub, _required(name, "--delete"))
    if keyvalues:
        raise UsageError("key=value arguments need -c (create) or -m (modify)")
    return show(hub, name or hub.require_user())


def _required(name: str, option: str) -> str:
    if not name:
        raise UsageError(f"user {option} needs a user NAME")
    return name


def create(hub: Hub, name: str, values: dict[str, str]) -> int:
    if "password" not in values and "pwhash" not in values:
        if not sys.stdin.isatty():
            raise UsageError(f"user -c {name} needs password=PASSWORD")
        password = getpass.getpass(f"password for the new user {name}: ")
        if not password or getpass.getpass("repeat the password: ") != password:
            raise UsageError("the passwords are empty or do not match")
        values["password"] = password
    reply = hub.request("PUT", hub.url_for(name), json=values, what=f"create user {name}")
    hub.line(f"user {name} created")
    _print_config(hub, name, reply.result)
    return 0


def modify(hub: Hub, name: str, values: dict[str, str]) -> int:
    if not values:
        raise UsageError("user -m needs at least one key=value")
    config = fetch(hub, name)
    body = {k: v for k, v in config.items() if k not in ("indexes", "username")}
    body.update(values)
    reply = hub.request("PATCH", hub.url_for(name), json=body, what=f"modify user {name}")
    store_new_token(hub, name, reply.result if reply.type == "userpassword" else None)
    hub.line(f"user {name} modified: {', '.join(sorted(values))}")
    return 0


def store_new_token(hub: Hub, name: str, result: Any) -> None:
    """After a password change the server hands out a new token; keep it if it is ours."""
    login = hub.login_for(warn=False)
    if login is None or login.user != name or not isinstance(result, dict):
        return
    token = result.get("password")
    if not token:
        return
    expiration = result.get("expiration")
    expires = time.time() + float(expiration) if expiration else 0.0
    hub.clientdir.set_login(hub.root, Login(user=name, token=str(token), expires=expires))


def delete(hub: Hub, name: str) -> int:
    if not hub.confirm(f"delete user {name} and all of their indexes and packages?"):
        raise ClientError("not deleted")
    hub.request("DELETE", hub.url_for(name), what=f"delete user {name}")
    hub.line(f"user {name} deleted")
    if hub.username == name:
        hub.clientdir.delete_login(hub.root)
    return 0


def fetch(hub: Hub, name: str) -> dict[str, Any]:
    reply = hub.get_json(hub.url_for(name), what=f"get user {name}")
    if reply.type != "userconfig" or not isinstance(reply.result, dict):
        raise ClientError(f"unexpected answer for user {name}: type {reply.type!r}")
    return reply.result


def show(hub: Hub, name: str) -> int:
    _print_config(hub, name, fetch(hub, name))
    return 0


def _print_config(hub: Hub, name: str, config: Any) -> None:
    if not isinstance(config, dict):
        return
    hub.line(f"{name}:")
    for key in sorted(config):
        if key in ("username", "indexes"):
            continue
        hub.line(f"  {key}={config[key]}")
    indexes = config.get("indexes") or {}
    hub.line(f"  indexes={', '.join(f'{name}/{i}' for i in sorted(indexes))}")


def list_users(hub: Hub) -> int:
    reply = hub.get_json(hub.root, what="list users")
    for name in sorted(reply.result or {}):
        hub.line(name)
    return 0
