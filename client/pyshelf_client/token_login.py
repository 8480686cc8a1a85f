"""log in with an API token

Stores the token as the login of the current server (like `pyshelf login`), so that the
other commands act with what the token allows. The token is read from --token, -f FILE,
$PYSHELF_TOKEN or standard input.
"""

from __future__ import annotations

import argparse

from .config import Login
from .errors import ServerError
from .hub import Hub
from .tokens import add_token_source_arguments, expiry, owner, read_token

COMMAND = "token-login"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_token_source_arguments(parser)


def main(hub: Hub, args: argparse.Namespace) -> int:
    root = hub.root
    token = read_token(args)
    user, _token_id = owner(token)
    hub.clientdir.set_login(root, Login(user=user, token=token, expires=float(expiry(token) or 0)))
    api = hub.get_json(hub.url_for("+api"))
    status = (api.result or {}).get("authstatus") or []
    if not status or status[0] != "ok":
        hub.clientdir.delete_login(root)
        raise ServerError(f"login with the token failed at {root}", status=401)
    hub.line(f"logged in as {user} at {root} with a token")
    return 0
