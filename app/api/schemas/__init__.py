"""Request and response bodies of the HTTP API, one module per resource."""

from app.api.schemas.events import EventIn, EventOut, EventsAccepted, parse_events
from app.api.schemas.items import ItemIn, ItemOut, ItemPage
from app.api.schemas.model import ModelInfo, RebuildAccepted
from app.api.schemas.recommendations import Recommendations, RecommendedItem
from app.api.schemas.users import UserIn, UserOut

__all__ = [
    "EventIn",
    "EventOut",
    "EventsAccepted",
    "ItemIn",
    "ItemOut",
    "ItemPage",
    "ModelInfo",
    "RebuildAccepted",
    "Recommendations",
    "RecommendedItem",
    "UserIn",
    "UserOut",
    "parse_events",
]
