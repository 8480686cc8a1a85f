"""Rendered simple pages kept in memory.

A page is rebuilt only when something it depends on changed: the entry remembers the server
state token it was last confirmed at (any committed write changes that) and the per-stage
tokens of the project (only changes to that project change those). Most requests therefore
cost one small query; a write elsewhere costs one more query to re-confirm the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..lru import WeighedLRU


@dataclass
class CachedPage:
    body: bytes
    content_type: str
    etag: str
    token: Any
    state_token: str
    fresh_until: float | None
    headers: tuple[tuple[str, str], ...] = ()
    # When what the age rules hold back changes: the page is rebuilt then, whatever the tokens.
    held_until: float | None = None


class PageCache(WeighedLRU[CachedPage]):
    """Rendered pages by (index id, project, media type, URL prefix), bounded by their bytes."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        super().__init__(max_bytes, lambda page: len(page.body), max_entry_weight=max_bytes // 4)
