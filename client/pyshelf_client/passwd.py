"""change the password of a user (default: the one logged in)

On a terminal the new password is asked twice without echo; otherwise it is read as
one line from standard input, so scripts can pipe it in.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from . import user as user_command
from .errors import UsageError
from .hub import Hub

COMMAND = "passwd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", nargs="?", metavar="NAME")


def read_new_password(name: str) -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"new password for {name}: ")
        if getpass.getpass("repeat the new password: ") != password:
            raise UsageError("the passwords do not match")
    if not password:
        raise UsageError("the new password is empty")
    return password


def main(hub: Hub, args: argparse.Namespace) -> int:
    name = args.username or hub.require_user()
    password = read_new_password(name)
    return user_command.modify(hub, name, {"password": password})
