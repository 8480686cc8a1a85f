"""An in-memory snapshot of every index's configuration, reloaded when it changes.

Resolving ``user/index`` from a URL and walking the bases happen on every simple-page request;
doing them from a snapshot costs one small query (the server state row) instead of several
joins. The snapshot is keyed by ``ServerState.config_token``, which every change to an index
or its bases replaces.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.models import User
from .models import Index, IndexBase


@dataclass(frozen=True)
class IndexInfo:
    id: int
    user: str
    name: str
    type: str
    volatile: bool
    options: dict[str, Any]
    bases: tuple[str, ...]
    is_mirror: bool = False

    @property
    def fullname(self) -> str:
        return f"{self.user}/{self.name}"

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass
class IndexSnapshot:
    token: str
    by_name: dict[str, IndexInfo] = field(default_factory=dict)
    by_id: dict[int, IndexInfo] = field(default_factory=dict)

    def get(self, fullname: str) -> IndexInfo | None:
        return self.by_name.get(fullname)

    def resolution_order(self, index: IndexInfo) -> list[IndexInfo]:
        """devpi's stage resolution order: breadth-first over bases, each index once, own index
        first, every mirror after every hosted stage (in the order the walk found them)."""
        order: list[IndexInfo] = []
        mirrors: list[IndexInfo] = []
        seen = {index.fullname}
        queue = [index]
        while queue:
            stage = queue.pop(0)
            order.append(stage)
            for base_name in stage.bases:
                if base_name in seen:
                    continue
                base = self.by_name.get(base_name)
                if base is None:
                    continue
                seen.add(base_name)
                if base.is_mirror:
                    mirrors.append(base)
                else:
                    queue.append(base)
        return order + mirrors

    def dependents(self, fullname: str) -> list[IndexInfo]:
        """Indexes whose resolution order contains ``fullname`` (itself included)."""
        found = []
        for info in self.by_name.values():
            if any(s.fullname == fullname for s in self.resolution_order(info)):
                found.append(info)
        return found


class IndexRegistry:
    def __init__(self, mirror_types: set[str]) -> None:
        self.mirror_types = mirror_types
        self._snapshot: IndexSnapshot | None = None
        self._lock = threading.Lock()

    def current(self) -> IndexSnapshot | None:
        """The last snapshot loaded, whatever its token (callers compare it)."""
        return self._snapshot

    def snapshot(
        self, session: Session, config_token: str, *, publish: bool = True
    ) -> IndexSnapshot:
        current = self._snapshot
        if current is not None and current.token == config_token:
            return current
        loaded = self._load(session, config_token)
        # Only keep snapshots of committed state (``publish``): a unit of work that changed the
        # configuration itself must not publish its uncommitted view to other requests.
        if publish:
            with self._lock:
                self._snapshot = loaded
        return loaded

    def _load(self, session: Session, token: str) -> IndexSnapshot:
        rows = session.execute(
            select(Index.id, User.name, Index.name, Index.type, Index.volatile, Index.options).join(
                User, User.id == Index.user_id
            )
        ).all()
        base_rows = session.execute(
            select(IndexBase.index_id, IndexBase.position, IndexBase.base_id).order_by(
                IndexBase.index_id, IndexBase.position
            )
        ).all()
        names = {row[0]: f"{row[1]}/{row[2]}" for row in rows}
        bases: dict[int, list[str]] = {}
        for index_id, _position, base_id in base_rows:
            if base_id in names:
                bases.setdefault(index_id, []).append(names[base_id])
        snapshot = IndexSnapshot(token=token)
        for index_id, user, name, type_, volatile, options in rows:
            info = IndexInfo(
                id=index_id,
                user=user,
                name=name,
                type=type_,
                volatile=bool(volatile),
                options=dict(options or {}),
                bases=tuple(bases.get(index_id, ())),
                is_mirror=type_ in self.mirror_types,
            )
            snapshot.by_name[info.fullname] = info
            snapshot.by_id[index_id] = info
        return snapshot
