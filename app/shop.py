"""The shop's vocabulary, defined once: event types and their weights, the id rule, item text.

Every layer takes these from here: the API's schemas, the store's columns and CHECK constraints,
the recommender's confidence formula and the benchmarks. This module imports nothing of the
project, so any of them may import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, get_args

# --- events ----------------------------------------------------------------------------------

EventType = Literal["view", "add_to_cart", "purchase", "rating"]
# In this order everywhere: an event's type code (in the rebuild's arrays) is its index here.
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
RATING_CODE = EVENT_TYPES.index("rating")


class EventRecord(Protocol):
    """A validated event, as the services store it (the API's `EventIn` is one)."""

    @property
    def event_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def item_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def timestamp(self) -> datetime | None: ...


# A timestamp may run ahead of the server's clock by this much (clients' clocks drift).
FUTURE_TOLERANCE = timedelta(days=1)

# --- ids -------------------------------------------------------------------------------------

MAX_ID_LENGTH = 128
# 1-128 printable characters: no control characters (C0, DEL, C1), no surrounding blanks.
# The same rule for user, item and event ids, categories and tags, in bodies and in paths.
ID_PATTERN = (
    r"^[^\x00-\x20\x7f-\x9f\u2028\u2029]"
    r"(?:[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\x00-\x20\x7f-\x9f\u2028\u2029])?$"
)

# An anonymous session is kept as a shopper whose key is the session id behind this prefix: a
# control character, which the id rule keeps out of every client id, so a session can never be
# mistaken for a shopper, nor reached through /users/{user_id}. Its id is one character shorter.
SESSION_PREFIX = "\x1f"
MAX_SESSION_ID_LENGTH = MAX_ID_LENGTH - len(SESSION_PREFIX)


def session_key(session_id: str) -> str:
    return SESSION_PREFIX + session_id


def shopper_key(user_id: str | None, session_id: str | None) -> str:
    """The key an event is stored under: the shopper's id, or the session's key."""
    if user_id is not None:
        return user_id
    if session_id is None:
        raise ValueError("an event names a shopper (user_id) or a session (session_id)")
    return session_key(session_id)


# --- how much an event says ------------------------------------------------------------------


@dataclass(frozen=True)
class ConfidenceConfig:
    """Weights of the confidence formula (`app.recommender.matrix`'s docstring).

    The defaults follow the usual shop funnel: a purchase says more than a cart add, which says
    more than a view. ``rating_neutral`` defaults to the middle of a 1..5 scale (2.5): a 3 is
    weak evidence (0.2 * rating_weight), a 5 is the strongest (rating_weight).
    """

    view: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0
    rating_weight: float = 5.0
    rating_max: float = 5.0
    rating_neutral: float = 2.5
    saturation_alpha: float | None = 1.0
    half_life_days: float | None = None

    def __post_init__(self) -> None:
        for field in ("view", "add_to_cart", "purchase", "rating_weight"):
            value = getattr(self, field)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{field} must be a finite non-negative weight, got {value}")
        if not self.rating_max > self.rating_neutral:
            raise ValueError(
                f"rating_max ({self.rating_max}) must be greater than "
                f"rating_neutral ({self.rating_neutral})"
            )
        if self.saturation_alpha is not None and not self.saturation_alpha > 0:
            raise ValueError(f"saturation_alpha must be > 0 or None, got {self.saturation_alpha}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0 or None, got {self.half_life_days}")

    def type_weights(self) -> list[float]:
        """Weight per event type code; the rating entry is 0 (a rating's weight is its value's)."""
        by_type = {"view": self.view, "add_to_cart": self.add_to_cart, "purchase": self.purchase}
        return [by_type.get(t, 0.0) for t in EVENT_TYPES]


# --- items -----------------------------------------------------------------------------------


def item_text(fields: dict[str, Any]) -> str:
    """The text the content model reads for an item: title, description, categories, tags."""
    parts = [fields.get("title") or "", fields.get("description") or ""]
    parts += list(fields.get("categories") or []) + list(fields.get("tags") or [])
    return " ".join(p for p in parts if p)
