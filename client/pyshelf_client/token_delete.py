"""revoke an API token

Every token derived from it stops working too, on every server process at once.
"""

from __future__ import annotations

import argparse

from .hub import Hub

COMMAND = "token-delete"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("token_id", metavar="ID", help="the id token-list shows")
    parser.add_argument("-u", "--user", help="whose token (default: the logged in user)")


def main(hub: Hub, args: argparse.Namespace) -> int:
    user = args.user or hub.require_user()
    reply = hub.request("DELETE", hub.url_for(f"{user}/+tokens/{args.token_id}"),
                        what="token-delete")  # fmt: skip
    hub.line(reply.message or f"token {args.token_id} deleted")
    return 0
