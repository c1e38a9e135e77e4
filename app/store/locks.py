"""The rebuild lock: at most one rebuild at a time across every server process on one store.

PostgreSQL: a session-level advisory lock on a dedicated connection (released if the process dies).
SQLite: an exclusive `flock` on a file beside the database (released by the kernel likewise).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

ADVISORY_KEY = 0x5E0B_5EC0  # "shoprec": any constant shared by all processes


@contextmanager
def rebuild_lock(engine: Engine) -> Iterator[bool]:
    """Yield True while holding the lock, or False at once when another process holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}))
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                    connection.commit()
        return
    path = Path(str(engine.url.database or "shoprec") + ".rebuild.lock")
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
