"""create an API token

The token acts as you (or, for root, as --user), with the restrictions given: it is printed
once and the server keeps only what verifies it. Without --expires it lasts the server's
default (one year unless configured); only root may ask for longer or 'never'. Use it as a
password: twine/uv/poetry with the user name __token__, or `pyshelf token-login`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .errors import UsageError
from .hub import Hub
from .tokens import add_restriction_arguments, restrictions

COMMAND = "token-create"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-u", "--user", help="whose token (default: the logged in user)")
    add_restriction_arguments(parser, never=True)
    parser.add_argument("-d", "--description", help="what the token is for, shown in lists")
    parser.add_argument("-o", "--output", help="write the token to this file (mode 0600)")


def main(hub: Hub, args: argparse.Namespace) -> int:
    user = args.user or hub.require_user()
    body = restrictions(args)
    if args.description:
        body["description"] = args.description
    reply = hub.request("POST", hub.url_for(f"{user}/+token-create"), json=body,
                        what="token-create")  # fmt: skip
    result = reply.result if isinstance(reply.result, dict) else {}
    token = result.get("token")
    if not isinstance(token, str):
        raise UsageError("the server's answer holds no token")
    if args.output:
        path = Path(args.output)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(token + "\n")
        hub.line(f"token {result.get('id', '')} written to {path}")
    else:
        hub.line(token)
    hub.warn("the token is shown this once: the server cannot show it again")
    return 0
