"""A small per-process cache whose entries expire: verified tokens, tenants by slug."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ExpiringLRU:
    """A thread-safe, bounded map whose entries expire at a wall-clock time of their own.

    When full, the least recently used entry goes. `clock` is `time.time` (tests move it).
    """

    def __init__(self, maxsize: int, clock: Callable[[], float] = time.time) -> None:
        self.maxsize = maxsize
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() >= entry[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: object, *, until: float) -> None:
        with self._lock:
            self._entries[key] = (until, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
