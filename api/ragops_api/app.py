"""The search API: ``create_app(settings)``, and ``app`` built from the environment on first use."""


import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .config import Settings
from .logs import configure_logging
from .metrics import Metrics
from .models import SearchRequest, SearchResponse, UpsertRequest, UpsertResponse
from .naming import TenantError
from .security import ApiKeys, RateLimiter, retry_after
from .store import BackendUnavailable, Bot, IdConflict, InvalidDocuments, Store, UnknownBot

access_log = logging.getLogger("ragops_api.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


class AccessLog:
    """Outermost middleware: request id, one JSON log line and the HTTP metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            # The route template (/v1/bots/{bot_id}/search), never the raw path: bounded label values.
            route = getattr(scope.get("route"), "path", "unmatched")
            labels = (scope["method"], route, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(duration)
            access_log.info("request", extra={
                "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route,
                "status": status, "duration_ms": round(duration * 1000, 3),
                "client": (scope.get("client") or ("-",))[0],
            })


def _encodable(value: object) -> object:
    """``value`` with NaN and the infinities as text: JSON has no word for them, and a 422 must still be sent."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _encodable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    return value


def search_answer(results: list[dict]) -> bytes:
    """The search response body: ``{"results": [{id, text, metadata, score}, ...]}``, ``metadata`` being
    JSON text already (PostgreSQL's rendering of the jsonb column)."""
    hits = ",".join(
        '{"id":%s,"text":%s,"metadata":%s,"score":%s}'
        % (json.dumps(hit["id"], ensure_ascii=False), json.dumps(hit["text"], ensure_ascii=False), hit["metadata"],
           json.dumps(hit["score"]))
        for hit in results)
    return ('{"results":[%s]}' % hits).encode("utf-8")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, also for bodies holding non-finite numbers (its own handler fails on them: a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _encodable(jsonable_encoder(errors))}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.secrets)
    metrics = Metrics()
    store = Store(settings, metrics)
    keys = ApiKeys(settings.api_keys)
    limiter = RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(title="ragops search API", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.store, app.state.metrics = settings, store, metrics

    # Every endpoint and dependency is async: a request is served on the event loop from start to end.
    async def authorize(request: Request, api_key: Annotated[str | None, Depends(api_key_header)]) -> None:
        """Rate limit per API key (per client address without a valid key), then require a key."""
        index = keys.match(api_key)
        client = f"key:{index}" if index is not None else f"ip:{request.client.host if request.client else '-'}"
        wait = limiter.acquire(client)
        if wait:
            metrics.rate_limited.inc()
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry_after(wait)})
        if settings.require_api_key and index is None:
            raise HTTPException(401, "missing or invalid X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})

    async def known_bot(bot_id: str) -> Bot:
        try:
            bot = Bot.parse(bot_id)
        except TenantError as exc:
            raise HTTPException(422, f"bot_id: {exc}") from exc
        await store.check_bot(bot)
        return bot

    def check_dim(vector: list[float], where: str) -> None:
        if len(vector) != settings.dim:
            raise HTTPException(422, f"{where} has {len(vector)} values, expected {settings.dim}")

    router = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])
    KnownBot = Annotated[Bot, Depends(known_bot)]

    @router.put("/bots/{bot_id}/documents")
    async def upsert_documents(body: UpsertRequest, bot: KnownBot) -> UpsertResponse:
        documents = body.documents
        if len(documents) > settings.max_documents:
            raise HTTPException(422, f"{len(documents)} documents in one request, the limit is "
                                     f"{settings.max_documents}")
        seen: set[str] = set()
        for index, document in enumerate(documents):
            if document.id in seen:
                raise HTTPException(422, f"documents[{index}].id {document.id!r} appears more than once")
            seen.add(document.id)
            check_dim(document.embedding, f"documents[{index}].embedding")
        count = await store.upsert(bot, documents)
        metrics.upserts.inc()
        metrics.upserted_documents.inc(count)
        return UpsertResponse(upserted=count)

    # The answer is written here, once: ids and texts are strings, the metadata is PostgreSQL's JSON text,
    # the scores are floats. response_model documents it; FastAPI does not check a Response it is given.
    @router.post("/bots/{bot_id}/search", response_model=SearchResponse)
    async def search(body: SearchRequest, bot: KnownBot) -> Response:
        check_dim(body.embedding, "embedding")
        results = await store.search(bot, body.embedding, body.top_k)
        metrics.searches.inc()
        metrics.search_results.inc(len(results))
        return Response(search_answer(results), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await store.readiness()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                            status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)

    def error(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return handler

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(UnknownBot, error(404))
    app.add_exception_handler(IdConflict, error(409))
    app.add_exception_handler(InvalidDocuments, error(422))
    app.add_exception_handler(BackendUnavailable, error(503))

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"], expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(AccessLog, metrics=metrics)  # added last: runs first
    return app


def __getattr__(name: str) -> FastAPI:
    # ``uvicorn ragops_api.app:app``: build the app from the environment when it is first asked for,
    # so that importing this module (tests, create_app users) needs no RAGOPS_* variables.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
