"""What the parts of one mirror index share: the app, the process's mirror runtime, and the
index's cache options."""

from __future__ import annotations

from typing import Any

from ..indexes.registry import IndexInfo
from .runtime import MirrorRuntime


class MirrorPart:
    def __init__(self, *, app: Any, runtime: MirrorRuntime, index: IndexInfo) -> None:
        self.app = app
        self.runtime = runtime
        self.index = index
        self.expiry = float(
            index.options.get("mirror_cache_expiry", app.settings.mirror_cache_expiry)
        )
        self.mirror_url: str = index.options.get("mirror_url") or ""
        self.offline = bool(app.settings.offline_mode)
