"""A thread-safe least-recently-used map bounded by the total weight of its entries (bytes of a
rendered page, links of a mirrored one), not by their number."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class WeighedLRU(Generic[V]):
    def __init__(
        self, max_weight: int, weigh: Callable[[V], int], *, max_entry_weight: int | None = None
    ) -> None:
        self.max_weight = max_weight
        # Heavier entries are not kept: one would push out everything else.
        self.max_entry_weight = max_weight if max_entry_weight is None else max_entry_weight
        self.weigh = weigh
        self.weight = 0
        self.entries: OrderedDict[Hashable, V] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        weight = self.weigh(value)
        with self.lock:
            self._drop(key)
            if weight > self.max_entry_weight:
                return
            self.entries[key] = value
            self.weight += weight
            while self.weight > self.max_weight and self.entries:
                _key, evicted = self.entries.popitem(last=False)
                self.weight -= self.weigh(evicted)

    def forget(self, key: Hashable) -> None:
        with self.lock:
            self._drop(key)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.weight = 0

    def _drop(self, key: Hashable) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.weight -= self.weigh(old)
