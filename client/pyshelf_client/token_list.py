"""list API tokens

Shows the id and restrictions of each of your tokens (root: of --user's); never the tokens.
"""

from __future__ import annotations

import argparse

from .hub import Hub

COMMAND = "token-list"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-u", "--user", help="whose tokens (default: the logged in user)")


def main(hub: Hub, args: argparse.Namespace) -> int:
    user = args.user or hub.require_user()
    reply = hub.get_json(hub.url_for(f"{user}/+tokens"), what="token-list")
    tokens = (reply.result or {}).get("tokens", {})
    if not tokens:
        hub.line(f"no tokens for {user!r}")
        return 0
    for token_id, info in sorted(tokens.items()):
        description = info.get("description")
        hub.line(f"{token_id}" + (f"  {description}" if description else ""))
        for restriction in info.get("restrictions", []):
            hub.line(f"    {restriction}")
    return 0
