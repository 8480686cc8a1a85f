"""What the token commands share: reading a token, restriction options, durations.

A token is ``devpi-`` and a serialised macaroon; its identifier is ``<user>-<id>`` and its
caveats are ``key=value`` restrictions (see the server's ``accounts/tokens.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from .errors import UsageError

TOKEN_ENV = "PYSHELF_TOKEN"  # noqa: S105 (the name of a variable)
PREFIX = "devpi-"
UNITS = {
    "y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
    "m": 30 * 86400, "month": 30 * 86400, "months": 30 * 86400,
    "w": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hour": 3600, "hours": 3600,
    "min": 60, "minute": 60, "minutes": 60,
    "s": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")


def add_restriction_arguments(parser: argparse.ArgumentParser, *, never: bool) -> None:
    parser.add_argument(
        "-e",
        "--expires",
        help="epoch seconds, or a duration such as 90d, 1y, 12h, '2 weeks'"
        + (", or 'never' (root only)" if never else ""),
    )
    parser.add_argument(
        "--not-before", help="epoch seconds or a duration from now before which it is refused"
    )
    for flag, short, what in (
        ("--allowed", "-a", "permissions (pkg_read, upload, …)"),
        ("--indexes", "-i", "indexes USER/INDEX"),
        ("--projects", "-p", "project names"),
    ):
        parser.add_argument(
            flag, short, action="append", help=f"comma separated {what}; may be repeated"
        )


def moment(value: str, *, now: float | None = None) -> int:
    """Epoch seconds from an epoch number or a duration from now."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    total, rest = 0, value.lower()
    while rest:
        match = _PART.match(rest)
        if not match or match.group(2) not in UNITS:
            raise UsageError(f"cannot read {value!r} as epoch seconds or a duration (e.g. 90d)")
        total += int(match.group(1)) * UNITS[match.group(2)]
        rest = rest[match.end() :]
    if not total:
        raise UsageError(f"cannot read {value!r} as epoch seconds or a duration (e.g. 90d)")
    return int((time.time() if now is None else now) + total)


def listed(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    items = sorted({item.strip() for value in values for item in value.split(",") if item.strip()})
    if not items:
        raise UsageError("an empty list restricts nothing: name at least one")
    return items


def restrictions(args: argparse.Namespace) -> dict[str, Any]:
    """The restrictions asked for, as the server's ``+token-create`` takes them."""
    found: dict[str, Any] = {}
    if args.expires:
        found["expires"] = "never" if args.expires == "never" else moment(args.expires)
    if args.not_before:
        found["not_before"] = moment(args.not_before)
    for kind in ("allowed", "indexes", "projects"):
        values = listed(getattr(args, kind))
        if values is not None:
            found[kind] = values
    return found


def add_token_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        help=f"the token (visible in the process list; prefer ${TOKEN_ENV}, -f or stdin)",
    )
    parser.add_argument("-f", "--file", help="read the token from this file ('-': stdin)")


def read_token(args: argparse.Namespace) -> str:
    """The token from --token, --file, $PYSHELF_TOKEN or standard input, in that order."""
    token = args.token
    if token is None and args.file:
        if args.file == "-":
            token = sys.stdin.readline()
        else:
            try:
                token = Path(args.file).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    if token is None and not sys.stdin.isatty():
        token = sys.stdin.readline()
    token = (token or "").strip()
    if not token:
        raise UsageError(f"no token given: pass --token, -f FILE or set ${TOKEN_ENV}")
    return token


def parse(token: str) -> Any:
    from pymacaroons import Macaroon

    try:
        return Macaroon.deserialize(token.removeprefix(PREFIX))
    # pymacaroons raises many kinds of exception on malformed input.
    except Exception:
        raise UsageError("this is not an API token") from None


def owner(token: str) -> tuple[str, str]:
    """``(user, token id)`` named by ``token``."""
    try:
        identifier = parse(token).identifier_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("this is not an API token") from None
    user, sep, token_id = identifier.rpartition("-")
    if not sep or not user:
        raise UsageError("this is not an API token")
    return user, token_id


def expiry(token: str) -> int | None:
    """The earliest ``expires`` caveat of ``token`` (None: none)."""
    found = None
    for caveat in parse(token).caveats:
        key, _, value = caveat.caveat_id_bytes.decode("utf-8", "replace").partition("=")
        if key == "expires" and value.isdigit():
            found = int(value) if found is None else min(found, int(value))
    return found


def derive(token: str, caveats: dict[str, Any]) -> str:
    """``token`` with more caveats (it can only allow less); keeps its form."""
    macaroon = parse(token)
    for key, value in caveats.items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        macaroon.add_first_party_caveat(f"{key}={text}")
    serialized: str = macaroon.serialize()
    return PREFIX + serialized if token.startswith(PREFIX) else serialized
