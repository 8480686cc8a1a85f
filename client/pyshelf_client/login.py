"""log in to the current server

Sends the password once and keeps the token the server returns (in the client
directory, mode 0600); later commands send the token, never the password. Without
--password the password is read from $PYSHELF_PASSWORD, else prompted without echo.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time

from .config import Login
from .errors import ClientError, ServerError, UsageError
from .hub import Hub

COMMAND = "login"
PASSWORD_ENV = "PYSHELF_PASSWORD"  # noqa: S105 (the name of a variable)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", metavar="USER", help="the user to log in as")
    parser.add_argument(
        "--password",
        help=f"the password (default: ${PASSWORD_ENV}, else ask without echo)",
    )


def prompt_password(*, url: str, username: str) -> str | None:
    if not sys.stdin.isatty():
        raise UsageError(
            f"no password given for {username!r} and no terminal to ask on: "
            f"pass --password or set ${PASSWORD_ENV}"
        )
    try:
        return getpass.getpass(f"password for user {username} at {url}: ")
    except EOFError:
        return None


def main(hub: Hub, args: argparse.Namespace) -> int:
    root = hub.root
    password = args.password
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = hub.ask_password(url=root, username=args.username)
    if password is None:
        raise UsageError("no password given")
    reply = hub.request(
        "POST",
        hub.current.login or hub.url_for("+login"),
        json={"user": args.username, "password": password},
        ok=None,
        # A stale token must not be sent along; the server would ignore it anyway.
        auth=False,
    )
    if reply.status == 401:
        raise ServerError(
            f"login failed: {reply.message}", status=401, server_message=reply.message
        )
    if reply.status >= 400:
        raise ServerError(
            hub.describe_error(reply, what="login"),
            status=reply.status,
            server_message=reply.message,
        )
    result = reply.result if isinstance(reply.result, dict) else {}
    token = result.get("password")
    if not token:
        raise ClientError("login failed: the server's answer holds no token")
    expiration = result.get("expiration")
    expires = time.time() + float(expiration) if expiration else 0.0
    hub.clientdir.set_login(root, Login(user=args.username, token=str(token), expires=expires))
    valid = f", valid for {float(expiration) / 3600:.2f} hours" if expiration else ""
    hub.line(f"logged in as {args.username} at {root}{valid}")
    if hub.current.index:
        check = hub.request("GET", hub.current.index, params={"no_projects": ""}, ok=None)
        if check.status == 403:
            hub.warn(f"{args.username} has no read access to {hub.current.index_name}")
    return 0
