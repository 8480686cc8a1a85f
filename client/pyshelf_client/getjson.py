"""print the JSON the server answers for a path

PATH is relative to the current index (or to the server root when no index is in use),
starts with / to be relative to the server root, or is a full URL.
"""

from __future__ import annotations

import argparse
import json

from .errors import ServerError
from .hub import Hub

COMMAND = "getjson"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH")


def resolve(hub: Hub, path: str) -> str:
    if "://" in path:
        return path
    if path.startswith("/"):
        return hub.url_for(path)
    base = hub.current.index + "/" if hub.current.index else hub.root
    return base + path


def main(hub: Hub, args: argparse.Namespace) -> int:
    url = resolve(hub, args.path)
    reply = hub.request("GET", url, ok=None)
    if reply.is_json:
        hub.line(json.dumps(reply.data, indent=2, sort_keys=True))
    if reply.status >= 400:
        raise ServerError(
            hub.describe_error(reply, what=f"GET {url}"),
            status=reply.status,
            server_message=reply.message,
        )
    if not reply.is_json:
        raise ServerError(f"GET {url} did not answer JSON", status=reply.status)
    return 0
