"""Permission names and the principals that ACLs speak of."""

from __future__ import annotations

from enum import StrEnum

from pyramid.authorization import Authenticated, Everyone


class Permission(StrEnum):
    USER_CREATE = "user_create"
    USER_MODIFY = "user_modify"
    USER_DELETE = "user_delete"
    INDEX_CREATE = "index_create"
    INDEX_MODIFY = "index_modify"
    INDEX_DELETE = "index_delete"
    PKG_READ = "pkg_read"
    UPLOAD = "upload"
    TOXRESULT_UPLOAD = "toxresult_upload"
    DELETE_ENTRY = "del_entry"


ANONYMOUS = ":ANONYMOUS:"
AUTHENTICATED = ":AUTHENTICATED:"


def user_principal(name: str) -> str:
    return f"user:{name}"


def acl_principal(entry: str) -> str:
    """Map an entry of an index ACL list (``acl_upload`` …) to a Pyramid principal."""
    upper = entry.upper()
    if upper == ANONYMOUS:
        return Everyone
    if upper == AUTHENTICATED:
        return Authenticated
    if entry.startswith(":"):
        return f"group:{entry[1:]}"
    return user_principal(entry)


def normalise_acl_entry(entry: str) -> str:
    upper = entry.upper()
    if upper in (ANONYMOUS, AUTHENTICATED):
        return upper
    return entry
