"""lift the yank of a release (or one of its files) on the current index

    pyshelf unyank NAME==VERSION [--file FILENAME]
"""

from __future__ import annotations

import argparse

from .hub import Hub
from .yank import add_common_arguments, set_yanked

COMMAND = "unyank"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="NAME==VERSION")
    add_common_arguments(parser)


def main(hub: Hub, args: argparse.Namespace) -> int:
    return set_yanked(hub, args, yanked=False)
