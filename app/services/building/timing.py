"""Wall-clock time per stage of a rebuild, as stored with each model version (`stages`)."""

from __future__ import annotations

import time


class StageTimer:
    """``lap(name)`` records the seconds since the previous lap (or since creation) under ``name``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.started = self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = round(now - self._t, 4)
        self._t = now

    def total(self) -> float:
        return time.perf_counter() - self.started
