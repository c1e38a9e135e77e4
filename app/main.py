"""The FastAPI application: routers, error handling, and the lifespan that owns the resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware

from app.api.errors import COMMON_RESPONSES, install_error_handlers
from app.api.fastpath import RecommendationsFastPath
from app.api.middleware import LimitsMiddleware
from app.api.routes import events, health, items, model, recommendations, users
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Runtime]]:
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
            yield {"runtime": runtime}  # lifespan state: in every request's scope (`request.state`)
        finally:
            await background.stop()
            runtime.close()

    app = FastAPI(
        title="shoprec",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
    )
    install_error_handlers(app)
    for router in (
        events.router,
        items.router,
        users.router,
        recommendations.router,
        model.router,
        health.router,
    ):
        app.include_router(router)
    # Innermost of the middleware: CORS headers and limits apply to the fast path too.
    app.add_middleware(RecommendationsFastPath, open_reads=not settings.auth_enabled)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        timeout_seconds=settings.request_timeout_seconds,
    )
    return app
