"""Rendered simple pages kept in memory.

A page is rebuilt only when something it depends on changed: the entry remembers the server
state token it was last confirmed at (any committed write changes that) and the per-stage
tokens of the project (only changes to that project change those). Most requests therefore
cost one small query; a write elsewhere costs one more query to re-confirm the entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass
class CachedPage:
    body: bytes
    content_type: str
    etag: str
    token: Any
    state_token: str
    fresh_until: float | None
    headers: tuple[tuple[str, str], ...] = ()


class PageCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.entries: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> CachedPage | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, page: CachedPage) -> None:
        size = len(page.body)
        if size > self.max_bytes // 4:
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.used -= len(old.body)
            self.entries[key] = page
            self.used += size
            while self.used > self.max_bytes and self.entries:
                _, evicted = self.entries.popitem(last=False)
                self.used -= len(evicted.body)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.used = 0
