"""The query of `GET /users/{user_id}/recommendations`, parsed once for the route and the fast path.

One definition (`RecommendationsQuery`, its defaults taken from `recommend.Query`), one parser
(`parse_recommendations_query`), and the route's OpenAPI parameters written from the same schema:
the fast path (`app/api/fastpath.py`) and the route (`routes/recommendations.py`) cannot drift.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.api.params import parse_exclude
from app.api.schemas.common import ID_PATTERN, MAX_ID_LENGTH, MAX_LIMIT, MAX_OFFSET
from app.services.serving import recommend
from app.services.serving.recommend import MAX_EXCLUDE

_DEFAULTS = recommend.Query._field_defaults  # the defaults are the service's, defined once there


class RecommendationsQuery(BaseModel):
    """The parameters of `GET /users/{user_id}/recommendations`. The route and the fast path both
    validate with `parse_recommendations_query`, so they accept, refuse and explain alike."""

    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["u-1001"]
    )
    limit: int | None = Field(
        _DEFAULTS["limit"], ge=1, le=MAX_LIMIT, description="Items (default: the placement's limit, or 10)."
    )
    offset: int = Field(_DEFAULTS["offset"], ge=0, le=MAX_OFFSET, description="Items to skip first.")
    category: str | None = Field(
        _DEFAULTS["category"], max_length=MAX_ID_LENGTH, description="Only items of this category."
    )
    exclude_seen: bool = Field(
        _DEFAULTS["exclude_seen"], description="Leave out items the shopper already interacted with."
    )
    placement: str | None = Field(
        _DEFAULTS["placement"],
        max_length=MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description="A placement's name (`PUT /placements/{name}`): its rules and default limit apply.",
        examples=["home"],
    )
    exclude: str | None = Field(
        None,
        max_length=MAX_EXCLUDE * (MAX_ID_LENGTH + 1),
        description=f"Comma-separated item ids never to answer with (at most {MAX_EXCLUDE}).",
        examples=["sku-00001,sku-00002"],
    )

    @field_validator("exclude")
    @classmethod
    def _exclude_ids(cls, value: str | None) -> str | None:
        parse_exclude(value)  # ValueError naming the bad id
        return value


def parse_recommendations_query(user_id: str, query_string: bytes) -> recommend.Query:
    """The query of a request for `user_id`'s recommendations (`user_id` as the path gives it,
    percent-decoded), or `RequestValidationError` naming each bad parameter. The query string is
    read as Starlette reads it: `parse_qsl` of its latin-1 text, the last of repeated keys winning,
    unknown keys ignored."""
    values: dict[str, object] = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    values["user_id"] = user_id
    try:
        q = RecommendationsQuery.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("path" if e["loc"][0] == "user_id" else "query", *e["loc"])} for e in exc.errors()]
        ) from None
    return recommend.Query(
        q.user_id, q.limit, q.offset, q.category, q.exclude_seen, q.placement, parse_exclude(q.exclude)
    )


def _parameters() -> list[dict[str, Any]]:
    """The OpenAPI parameters of the route, written from `RecommendationsQuery`'s own schema."""
    schema = RecommendationsQuery.model_json_schema()
    out = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        field.pop("title", None)
        where = "path" if name == "user_id" else "query"
        parameter: dict[str, Any] = {"name": name, "in": where, "required": where == "path", "schema": field}
        if description:
            parameter["description"] = description
        out.append(parameter)
    return out


RECOMMENDATIONS_PARAMETERS = _parameters()
