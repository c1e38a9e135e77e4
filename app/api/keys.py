"""API keys and their scopes, checked once per request by the routes and by the fast path alike.

The configured keys are encoded once, when the app is created; a check compares the header's raw
bytes with every key (no early exit, `hmac.compare_digest`), so its timing says nothing about which
key matched or how much of one did.
"""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import HTTPException

from app.config import Settings

KeyScope = Literal["read", "write"]

MISSING = "missing API key: send it in the X-API-Key header"
INVALID = "invalid API key"
READ_ONLY = "this API key may only read: writes need a write key"


def _matches(key: bytes, keys: tuple[bytes, ...]) -> bool:
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(key, candidate)
    return found


class ApiKeys:
    __slots__ = ("write", "read", "_readers")

    def __init__(self, write: tuple[bytes, ...] = (), read: tuple[bytes, ...] = ()) -> None:
        self.write = write
        self.read = read
        self._readers = write + read  # a write key may read

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        return cls(
            write=tuple(k.encode() for k in settings.api_write_keys),
            read=tuple(k.encode() for k in settings.api_read_keys),
        )

    @property
    def enabled(self) -> bool:
        """False: no keys are configured and the API is open."""
        return bool(self.write or self.read)

    def scope(self, key: bytes) -> KeyScope | None:
        """What `key` (the header's raw bytes) may do, or None for an unknown key."""
        if _matches(key, self.write):
            return "write"
        if _matches(key, self.read):
            return "read"
        return None

    def allows_read(self, key: bytes | None) -> bool:
        """May `key` read? One pass over every key, write and read alike (the fast path's check)."""
        if not self._readers:
            return True
        return key is not None and key != b"" and _matches(key, self._readers)

    def check(self, key: bytes | None, *, write: bool) -> None:
        """Raise the 401 or 403 the request deserves; return when the key may do it."""
        if not self.enabled:
            return
        if not key:
            raise HTTPException(401, MISSING, headers={"WWW-Authenticate": "ApiKey"})
        scope = self.scope(key)
        if scope is None:
            raise HTTPException(401, INVALID, headers={"WWW-Authenticate": "ApiKey"})
        if write and scope != "write":
            raise HTTPException(403, READ_ONLY)
