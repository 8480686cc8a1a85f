"""drop the cached mirror pages of projects so they are fetched again from upstream"""

from __future__ import annotations

import argparse

from packaging.utils import canonicalize_name

from .errors import ServerError
from .hub import Hub

COMMAND = "refresh"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME")
    parser.add_argument("--index", metavar="USER/INDEX", help="refresh on this index instead")


def main(hub: Hub, args: argparse.Namespace) -> int:
    ref = hub.index_ref(args.index)
    for raw in args.names:
        name = canonicalize_name(raw)
        url = f"{ref.url}/+simple/{name}/refresh"
        reply = hub.request("POST", url, accept_json=False, ok=None)
        if reply.status != 200:
            raise ServerError(
                hub.describe_error(reply, what=f"refresh {name}"),
                status=reply.status,
                server_message=reply.message,
            )
        hub.line(f"refreshed {name} on {ref.name}")
    return 0
