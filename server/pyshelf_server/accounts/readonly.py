"""Read-only ("download only") users: root marks a user ``read_only`` and that user may read
every index they could read before, but is refused every other permission anywhere (uploads,
tox results, deletions, creating or changing indexes), whatever an index's ACLs say, even
``acl_upload=:AUTHENTICATED:`` or an index of their own. They may still change their own
password, email and title; only root changes the flag.

The flag is looked up once per users token (``server_state.users_token``, which a change of the
flag renews) and user, so that an upload pays no query for it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from ..lru import WeighedLRU
from ..permissions import Permission
from .models import User

# What a read-only user keeps: reading, and their own user record (password, email…).
ALLOWED = frozenset({Permission.PKG_READ, Permission.USER_MODIFY})

_users = User.__table__
_READ_ONLY = select(_users.c.read_only).where(_users.c.name == bindparam("username"))


class ReadOnlyUsers:
    """Whether users are read-only, as of a users token."""

    def __init__(self, size: int = 1024) -> None:
        self.entries: WeighedLRU[bool] = WeighedLRU(size, lambda _flag: 1)

    def is_read_only(self, request: Any, username: str) -> bool:
        key = (request.shelf.state[3], username)
        known = self.entries.get(key)
        if known is None:
            found = request.db.connection().execute(_READ_ONLY, {"username": username})
            known = bool(found.scalar_one_or_none())
            self.entries.put(key, known)
        return known


def refuses(request: Any, identity: Any, permission: str) -> bool:
    """Whether ``identity`` is a read-only user and ``permission`` one they lose. Asked by the
    security policy before plugins and ACLs, so that neither can let a read-only user write;
    not a ``pyshelf_permits`` hook: any such hook turns the fast path of simple pages off."""
    if identity is None or permission in ALLOWED:
        return False
    return request.registry.pyshelf.read_only_users.is_read_only(request, identity.username)
