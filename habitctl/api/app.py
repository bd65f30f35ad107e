"""The FastAPI application: one pooled engine for its lifetime, read-only routes, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from habitctl import __version__
from habitctl.api.errors import install_error_handlers
from habitctl.api.routes import public_router
from habitctl.config import Settings
from habitctl.storage.engine import make_engine

ROUTE_THREADS = 10  # worker threads (and pooled connections) for the sync routes
DESCRIPTION = (
    "Read-only: the habits people chose to make public. Pages are keyset-paginated: pass "
    "`next_cursor` back as `cursor` until it is null."
)


def make_api_engine(database_url: str) -> Engine:
    """An engine tuned for many short read-only requests."""
    options: dict[str, Any] = {
        # One statement per request needs no transaction: autocommit spares the BEGIN and
        # ROLLBACK round trips a pooled connection would otherwise make around it.
        "isolation_level": "AUTOCOMMIT",
    }
    if make_url(database_url).get_backend_name() == "postgresql":
        # One connection per route thread, so no request waits for one. No pre-ping (a
        # second round trip per request): a dead connection fails one request with 503,
        # SQLAlchemy then invalidates the pool and the next request reconnects.
        options.update(pool_size=ROUTE_THREADS, max_overflow=0, pool_pre_ping=False)
    return make_engine(database_url, **options)


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """The endpoint over `settings.database_url` (or `engine`, which it then owns)."""
    db = engine if engine is not None else make_api_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The sync routes run in anyio's worker threads, 40 by default: under load 40 threads
        # take turns at the GIL and the tail widens. With ROUTE_THREADS the other requests
        # wait in order on the event loop (benchmarks/README.md, "The HTTP tail").
        to_thread.current_default_thread_limiter().total_tokens = ROUTE_THREADS
        yield
        db.dispose()

    app = FastAPI(
        title="habitctl public habits",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.include_router(public_router(db))
    install_error_handlers(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET"],
            allow_credentials=False,
            max_age=600,
        )
    return app
