"""Route factories: the context of each request, carrying the ACL its permissions are checked
against. A missing user or index is a 404 before any view runs."""

from __future__ import annotations

from typing import Any

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow, Everyone

from .indexes.registry import IndexInfo
from .permissions import Permission, acl_principal, user_principal

ROOT = user_principal("root")
# Root may do everything except what an index's own upload ACLs decide: devpi keeps those
# strict even for root, so a project cannot appear in someone's index behind their back.
ROOT_DENIED = {Permission.UPLOAD, Permission.TOXRESULT_UPLOAD}
ROOT_ALLOWED = tuple(p for p in Permission if p not in ROOT_DENIED)


class RootContext:
    def __init__(self, request: Any) -> None:
        self.request = request

    @property
    def __acl__(self) -> list[Any]:
        acl: list[Any] = [(Allow, ROOT, ALL_PERMISSIONS)]
        if self.request.registry.pyshelf.settings.allow_user_registration:
            acl.append((Allow, Everyone, Permission.USER_CREATE))
        return acl


class UserContext:
    def __init__(self, request: Any) -> None:
        self.request = request
        self.username: str = request.matchdict["user"]

    @property
    def __acl__(self) -> list[Any]:
        me = user_principal(self.username)
        return [
            (Allow, ROOT, ALL_PERMISSIONS),
            (Allow, me, (Permission.USER_MODIFY, Permission.USER_DELETE, Permission.INDEX_CREATE)),
        ]


class IndexContext:
    """The route's index; or, given ``index``, another one (the target of a push)."""

    def __init__(self, request: Any, index: IndexInfo | None = None) -> None:
        self.request = request
        if index is not None:
            self.fullname = index.fullname
            self.found: IndexInfo | None = index
            return
        self.fullname = f"{request.matchdict['user']}/{request.matchdict['index']}"
        route = request.matched_route.name if request.matched_route else ""
        # Creating an index is the one request about an index that does not exist yet.
        creating = request.method == "PUT" and route == "index"
        self.found = None if creating else request.shelf.require_index(self.fullname)

    @property
    def index(self) -> IndexInfo:
        if self.found is None:
            self.found = self.request.shelf.require_index(self.fullname)
        return self.found

    @property
    def __acl__(self) -> list[Any]:
        index = self.index
        owner = user_principal(index.user)
        acl: list[Any] = [
            (Allow, ROOT, ROOT_ALLOWED),
            (
                Allow,
                owner,
                (Permission.INDEX_MODIFY, Permission.INDEX_DELETE, Permission.DELETE_ENTRY),
            ),
            (Allow, Everyone, Permission.PKG_READ),
        ]
        for entry in index.options.get("acl_upload", []):
            acl.append((Allow, acl_principal(entry), (Permission.UPLOAD, Permission.DELETE_ENTRY)))
        for entry in index.options.get("acl_toxresult_upload", []):
            acl.append((Allow, acl_principal(entry), Permission.TOXRESULT_UPLOAD))
        acl.append(DENY_ALL)
        return acl
