"""narrow an API token offline

Prints a new token carrying more restrictions than the given one; the server is not asked
and a restriction can never be taken away again. Give it to a job that needs less.
"""

from __future__ import annotations

import argparse

from .errors import UsageError
from .hub import Hub
from .tokens import add_restriction_arguments, add_token_source_arguments, derive, read_token
from .tokens import restrictions as asked_restrictions

COMMAND = "token-derive"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_token_source_arguments(parser)
    add_restriction_arguments(parser, never=False)


def main(hub: Hub, args: argparse.Namespace) -> int:
    caveats = asked_restrictions(args)
    if not caveats:
        raise UsageError("no restriction given: nothing to narrow")
    if caveats.get("expires") == "never":
        raise UsageError("a derived token can only expire earlier, not never")
    hub.line(derive(read_token(args), caveats))
    return 0
