"""Keep the garbage collector off long-lived objects, and give freed model memory back to the
operating system (glibc only; elsewhere a no-op).

A server holds ~140,000 objects the cyclic garbage collector tracks (the modules' functions and
types, the catalog's category sets, the model's indexes). A full collection walks all of them: over
100 ms with the GIL held, a stall of every request in flight, and it comes back whenever the caches
have grown by a quarter. Once the server has started, and after each model swap, everything is
collected once and what survived is frozen (`gc.freeze`): collections in between walk only what was
made since. Frozen objects freed by their reference count go as usual; a frozen object that ends in
a reference cycle waits for the next swap's collection.

A model swap frees hundreds of megabytes of numpy arrays. glibc raises its mmap threshold after
large frees, so later large arrays land in the heap, whose freed pages it keeps, and it gives each
thread of the request threadpool its own arena: a server's RSS then grows although nothing leaks.
Pinning the threshold keeps large arrays in their own mappings (returned on free), two arenas bound
the per-thread heaps, and a trim after each swap hands back what the heaps still hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENAS = 2

_libc: ctypes.CDLL | None = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _lib = ctypes.CDLL(_name)
        if hasattr(_lib, "mallopt") and hasattr(_lib, "malloc_trim"):
            _libc = _lib
except OSError:  # pragma: no cover - not glibc
    _libc = None


def tune_malloc() -> None:
    """Call before threads start allocating (process start)."""
    if _libc is not None:
        _libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        _libc.mallopt(M_ARENA_MAX, ARENAS)


def settle() -> None:
    """Collect everything (the frozen too), then freeze what survived."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def release_freed_memory() -> None:
    """After a model swap: the previous model's memory back to the system, the new one frozen."""
    settle()
    if _libc is not None:
        _libc.malloc_trim(0)
