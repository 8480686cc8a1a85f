"""forget the login token of the current server

Only local state is removed; the server is not asked (as with devpi).
"""

from __future__ import annotations

import argparse

from .hub import Hub

COMMAND = "logoff"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(hub: Hub, args: argparse.Namespace) -> int:
    root = hub.root
    login = hub.clientdir.delete_login(root)
    if login is None:
        hub.line(f"not logged in at {root}")
    else:
        hub.line(f"logged off {login.user} at {root}")
    return 0
