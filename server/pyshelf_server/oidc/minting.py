"""The minted token: an API token (accounts.tokens) of the index owner, restricted to uploads of
the matched publisher's (index, project) pairs for 15 minutes, and re-checked at every use.

The token carries the caveat ``pyshelf-publisher=<JSON>``: the publisher entry (without its
projects) and the run's audit claims. At use, :func:`check_publisher` (the caveat's checker)
refuses the token unless the index it is used on still has an entry of that publisher, and
:func:`publisher_refusal` (called by the upload once the form names the project) unless that
entry still lists the project. An owner who removes the entry, or a project from it, stops
every token minted from it at once, on every server process.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..accounts.models import User
from ..accounts.tokens import TokenService, register_caveat
from ..names import normalize_name
from ..permissions import Permission
from ..views.helpers import begin_write
from .publishers import OPTION, Candidate, identity, published_by
from .service import MAX_BODY_BYTES, MINTED_TOKEN_SECONDS, MintError, find_publishers, record_jti

CAVEAT = "pyshelf-publisher"


def mint(request: Any) -> tuple[str, int]:
    """Verify the request's ID token and mint: ``(token, expires)``. ``MintError`` otherwise."""
    publishing = request.registry.pyshelf.trusted_publishing
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise MintError(
            "invalid-payload", f"the request body may be at most {MAX_BODY_BYTES} bytes"
        )
    # Before the first query: fetching an issuer's keys may take seconds.
    verified = publishing.verify(request.body)
    begin_write(request)
    found = find_publishers(verified, request.shelf.snapshot)
    owner = _owner(found)
    now = int(publishing.clock())
    record_jti(request.db, verified, datetime.fromtimestamp(now, UTC))
    user = request.db.execute(select(User).where(User.name == owner)).scalar_one_or_none()
    if user is None:
        raise MintError("invalid-publisher", f"valid token, but the user {owner!r} is gone")
    record = published_by(verified.provider, found[0].entry, verified.claims)
    expires = now + MINTED_TOKEN_SECONDS
    _token_id, token = TokenService.for_request(request).create(
        user,
        expires=expires,
        not_before=now,
        allowed=[Permission.UPLOAD.value],
        indexes=sorted({c.index for c in found}),
        projects=sorted({p for c in found for p in c.entry["projects"]}),
        description=f"trusted publisher {_label(record)}",
        caveats={CAVEAT: json.dumps(record, separators=(",", ":"), sort_keys=True)},
        policy=False,
    )
    return token, expires


def _owner(found: list[Candidate]) -> str:
    """The one user whose indexes trust the publisher: the minted token acts as that user.
    Entries of one publisher on indexes of several users are refused, naming them: a token
    has one user, and which one the job means cannot be known from its request."""
    owners = sorted({c.index.partition("/")[0] for c in found})
    if len(owners) > 1:
        indexes = ", ".join(sorted({c.index for c in found}))
        raise MintError(
            "invalid-publisher",
            "valid token, but the publisher is trusted by indexes of more than one user "
            f"({indexes}); a minted token acts for one user",
        )
    return owners[0]


def _label(record: dict[str, Any]) -> str:
    if record["provider"] == "github":
        return f"github {record['owner']}/{record['repository']} {record['workflow']}"
    if record["provider"] == "gitlab":
        return f"gitlab {record['namespace']}/{record['project']} {record['workflow_filepath']}"
    return f"google {record['email']}"


def _record(value: str) -> dict[str, Any] | None:
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "provider" in record else None


def _entries_of(request: Any, fullname: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    info = request.shelf.index(fullname)
    if info is None:
        return []
    wanted = identity({k: v for k, v in record.items() if k != "claims"})
    return [e for e in info.option(OPTION) or () if identity(e) == wanted]


def check_publisher(request: Any, value: str) -> str | None:
    """The caveat's checker: the index the token is used on still trusts its publisher (and
    the server still does trusted publishing)."""
    if not request.registry.pyshelf.trusted_publishing.enabled:
        return "trusted publishing is not enabled on this server"
    record = _record(value)
    index = getattr(getattr(request, "context", None), "fullname", None)
    if record is None or index is None:
        return "a trusted publisher token may only upload to an index"
    if not _entries_of(request, index, record):
        return f"the trusted publisher of this token is no longer configured on {index}"
    return None


def publisher_of(request: Any) -> dict[str, Any] | None:
    """The publisher record of the request's token, when it is a minted one."""
    identity_ = getattr(request, "identity", None)
    grant = getattr(identity_, "grant", None)
    for name, value in getattr(grant, "caveats", None) or ():
        if name == CAVEAT:
            return _record(value)
    return None


def publisher_refusal(request: Any, project: str) -> str | None:
    """Why the request's minted token may not upload ``project`` to the route's index (None:
    it may, or the request has no minted token)."""
    record = publisher_of(request)
    if record is None:
        return None
    index = request.context.fullname
    name = normalize_name(project)
    if not any(name in entry["projects"] for entry in _entries_of(request, index, record)):
        return (
            f"the trusted publisher of this token may not publish {name!r} to {index}: "
            "add the project to its entry in the index's trusted_publishers"
        )
    return None


def register() -> None:
    """Make minted tokens valid (their caveat is checked by :func:`check_publisher`)."""
    register_caveat(CAVEAT, check_publisher)
