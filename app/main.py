"""The FastAPI application: routers, error handling, and the lifespan that owns the resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.api.errors import install_error_handlers
from app.api.fastpath import RecommendationsFastPath
from app.api.keys import ApiKeys
from app.api.middleware import Deadlines, LimitsMiddleware, RequestContextMiddleware
from app.api.openapi import install_openapi
from app.api.routes import (
    dashboard,
    docs,
    events,
    health,
    items,
    model,
    placements,
    recommendations,
    sessions,
    users,
)
from app.api.routes import metrics as metrics_route
from app.config import Settings
from app.services.building.background import Background
from app.services.serving.runtime import Runtime
from app.store.migrate import upgrade

log = logging.getLogger("shoprec")

DESCRIPTION = """
shoprec turns what shoppers do into recommendations. Send events (`POST /events`) and your
catalog (`PUT /items/{item_id}`); models rebuild in the background; read each shopper's
recommendations from `GET /users/{user_id}/recommendations`.

Send an API key in `X-API-Key` when keys are configured: a read key for recommendations, similar,
popular and item reads; a write key for everything.
"""


class ShopApp(FastAPI):
    """FastAPI, with a front door: every HTTP request meets `front` first (its id and metrics, then
    the recommendations fast path), which answers its own and hands the rest to the framework's
    full stack."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None and scope["type"] == "http":
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, fast_path: bool = True) -> ShopApp:
    """`fast_path=False` serves every request through the framework's routing (the tests hold the
    fast path equal to it)."""
    settings = settings or Settings()
    keys = ApiKeys.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        runtime = Runtime.create(settings)
        if settings.migrate_on_start:
            await run_in_threadpool(upgrade, runtime.engine)
        if not settings.auth_enabled:
            log.warning("no API keys configured: the API is open to anyone who can reach it")
        await run_in_threadpool(runtime.safe_startup_load)
        background = Background(runtime)
        runtime.background = background
        background.start()
        try:
            # Lifespan state: in every request's scope (`request.state`).
            yield {"runtime": runtime, "keys": keys}
        finally:
            await background.stop()
            runtime.close()
            metrics.process_exiting()

    app = ShopApp(
        title="shoprec",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Operation ids are what generated clients name their functions: the route's own name
        # (`post_events`, `get_item`) rather than FastAPI's default of name, path and method.
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,  # served by routes/docs.py, from the service's own copy of Swagger UI
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in (
        events.router,
        items.router,
        users.router,
        recommendations.router,
        placements.router,
        sessions.router,
        model.router,
        health.router,
        metrics_route.router,
        docs.router,
    ):
        app.include_router(router)
    install_openapi(app, auth_enabled=settings.auth_enabled)
    app.mount(docs.ASSETS, docs.assets, name="docs-assets")
    dashboard.install(app)
    deadlines = Deadlines(settings.request_timeout_seconds)
    cors: dict[str, Any] | None = (
        {
            "allow_origins": settings.cors_origins,
            "allow_methods": ["GET", "POST", "PUT", "DELETE"],
            "allow_headers": ["X-API-Key", "Content-Type"],
        }
        if settings.cors_origins
        else None
    )
    if cors is not None:
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, deadlines=deadlines)
    front: ASGIApp = app.framework
    if fast_path:
        front = RecommendationsFastPath(app.framework, keys=keys, deadlines=deadlines, cors=cors)
    # In front of everything: every answer carries its request id and is counted, the fast path's
    # and the limits' 413 and 503 included.
    app.front = RequestContextMiddleware(front, access_log=settings.access_log)
    return app
