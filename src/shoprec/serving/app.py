"""The recommendation service: FastAPI over the model behind the registry alias.

Endpoints: ``/v1/recommendations/{user_id}``, ``/v1/similar/{item_id}``, ``POST /v1/events``,
``/healthz`` (the process is up), ``/readyz`` (a verified model is loaded), ``/metrics``
(Prometheus) and the OpenAPI docs at ``/docs``. Every error a caller can cause is a 4xx with a
JSON body ``{"error": ..., "detail": ...}``; nothing a request sends can produce a 500.

Every response carries ``X-Request-ID``; with an impressions log each answered recommendation
(and similar-items) request appends one row to it. Incoming user ids go through the
pseudonymiser when that is on, and users on the deletion list are unknown to every version.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint annotations at runtime,
# and some of them are built inside create_app (the k limit comes from the settings)
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoprec.impressions import ImpressionWriter, impression
from shoprec.privacy.erasures import ErasureList
from shoprec.serving import contract
from shoprec.serving.engine import ServedModel, UnknownItem
from shoprec.serving.forgotten import ERASED, ForgottenUsers
from shoprec.serving.reloader import ModelHolder
from shoprec.serving.request_ids import request_id
from shoprec.serving.tf_predict import SavedModelPaths, tf_predict_router

log = logging.getLogger(__name__)
MAX_ID_LENGTH = 128
MAX_CATEGORY_LENGTH = 256
MAX_EVENTS_PER_REQUEST = 100
MAX_SESSION_USERS = 100_000
REQUEST_ID = "shoprec.request_id"  # where the middleware leaves the request id in the scope


@dataclass
class ServiceSettings:
    default_k: int = 10
    max_k: int = 100
    session_events: int = 50
    poll_interval_s: float = 30.0
    erasures_poll_interval_s: float = 2.0  # privacy.poll_interval_s: the deletion list


class ServiceMetrics:
    """Prometheus metrics in a registry of their own (one per app, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "shoprec_request_duration_seconds",
            "Request latency by endpoint",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.requests = Counter(
            "shoprec_requests",
            "Requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.version = Gauge(
            "shoprec_model_version",
            "Model version being served (with several workers: one series per worker pid)",
            ["model"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "shoprec_model_reloads", "Successful model swaps", registry=self.registry
        )
        self.reload_failures = Counter(
            "shoprec_model_reload_failures",
            "Versions that failed to download, verify or load (the old one kept serving)",
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "shoprec_popularity_fallbacks",
            "Unknown users answered with popular items",
            registry=self.registry,
        )


class SessionStore:
    """Recent events of known users, in memory (bounded per user and in users, LRU)."""

    def __init__(self, per_user: int, max_users: int = MAX_SESSION_USERS) -> None:
        self.per_user = per_user
        self.max_users = max_users
        self._events: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, user_id: str, items: list[tuple[int, str]]) -> int:
        """Append ``(item position, event type)`` pairs to the user's session."""
        with self._lock:
            queue = self._events.pop(user_id, None) or deque(maxlen=self.per_user)
            queue.extend(items)
            self._events[user_id] = queue
            while len(self._events) > self.max_users:
                self._events.popitem(last=False)
            return len(queue)

    def entries(self, user_id: str) -> list[tuple[int, str]]:
        """The user's session, oldest first: ``(item position, event type)`` pairs."""
        with self._lock:
            queue = self._events.get(user_id)
            return list(queue) if queue else []

    def items(self, user_id: str) -> list[int]:
        return [item for item, _ in self.entries(user_id)]

    def drop(self, user_ids: Iterable[str]) -> None:
        """Forget these users' sessions (they asked to be forgotten)."""
        with self._lock:
            for user_id in user_ids:
                self._events.pop(user_id, None)

    def clear(self) -> None:  # item indices belong to one model version
        with self._lock:
            self._events.clear()


class Event(BaseModel):
    item_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    event_type: Literal["view", "addtocart", "purchase"] = "view"
    timestamp: datetime | None = None


class EventBatch(BaseModel):
    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class MeasuredRequests:
    """Pure ASGI middleware: latency and status per route template (not per raw path, which
    would give every user id a time series of its own); an unexpected exception becomes a JSON
    500 and is logged. It gives every request its id (``X-Request-ID``, in the scope for the
    endpoints and on every response)."""

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        scope[REQUEST_ID] = rid = request_id(scope["headers"])
        rid_header = (b"x-request-id", rid.encode("ascii"))

        async def send_and_note(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            log.exception("request failed")
            if not status["sent"]:
                await _error(500, "internal error", "see the service log")(
                    scope, receive, send_and_note
                )
            status["code"] = 500
        route = scope.get("route")
        endpoint = getattr(route, "path", "other")
        self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        self.metrics.requests.labels(endpoint, str(status["code"])).inc()


def _error(status: int, error: str, detail, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def create_app(
    holder: ModelHolder,
    settings: ServiceSettings | None = None,
    savedmodels: SavedModelPaths | None = None,
    impressions: ImpressionWriter | None = None,
    pseudonymise: Callable[[str], str] | None = None,
    erasures: ErasureList | None = None,
) -> FastAPI:
    """The app around a ``ModelHolder``; the lifespan loads the model and starts polling.

    ``impressions``: the log every answer is recorded in (started and closed by the lifespan);
    ``pseudonymise``: applied to every incoming user id (``privacy.pseudonymise_users``);
    ``erasures``: the deletion list, read at start and polled.

    Endpoints are ``async``: a request's work is a few milliseconds of NumPy, cheaper to run on
    the event loop than to hand to a thread pool; loading a new version happens in the
    reloader's thread."""
    settings = settings or ServiceSettings()
    metrics = ServiceMetrics()
    sessions = SessionStore(settings.session_events)
    forgotten = ForgottenUsers(erasures, on_forget=sessions.drop)
    holder.forgotten = forgotten  # every version the holder loads from now on
    if holder.current is not None:
        holder.current.forgotten = forgotten

    def stored_id(user_id: str) -> str:
        """The id as shoprec stores it (the pseudonym when pseudonymisation is on)."""
        return pseudonymise(user_id) if pseudonymise is not None else user_id

    def reloaded(served: ServedModel) -> None:
        metrics.reloads.inc()
        metrics.version.labels(served.name).set(served.version or 0)
        sessions.clear()  # sessions hold item positions of the previous version

    holder.on_reload = reloaded
    holder.on_failure = lambda version, exc: metrics.reload_failures.inc()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        forgotten.refresh()  # before the first answer: nobody on the list is ever served
        if holder.current is None:
            holder.refresh()
        else:
            reloaded(holder.current)
        if impressions is not None:
            impressions.start()
        forgotten.start(settings.erasures_poll_interval_s)
        holder.start(settings.poll_interval_s)
        try:
            yield
        finally:  # uvicorn has answered every request by now: write what is left first
            if impressions is not None:
                impressions.close()
                log.info("impressions: %d written", impressions.written)
            forgotten.stop()
            holder.stop()

    app = FastAPI(
        title="shoprec",
        summary="Product recommendations from the model behind the registry alias.",
        lifespan=lifespan,
    )

    app.add_middleware(MeasuredRequests, metrics=metrics)
    document = app.openapi

    def openapi() -> dict:  # X-Request-ID on every response of the contract
        return contract.with_request_id(document())

    app.openapi = openapi

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        detail = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": e["msg"]}
            for e in exc.errors()
        ]
        return _error(422, "invalid request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # keeps the headers the router sets, e.g. ``Allow`` on a 405
        return _error(exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))

    def served() -> ServedModel | JSONResponse:
        current = holder.current
        if current is None:
            return _error(503, "no model loaded yet", holder.last_error)
        return current

    UserId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
    ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
    K = Annotated[int, Query(ge=1, le=settings.max_k, description="how many items")]

    @app.get(
        "/v1/recommendations/{user_id}",
        response_model=contract.Recommendations,
        responses={**contract.INVALID, **contract.NOT_READY},
    )
    async def recommendations(
        request: Request,
        user_id: UserId,
        k: K = settings.default_k,
        exclude_seen: bool = True,
        category: Annotated[str | None, Query(min_length=1, max_length=MAX_CATEGORY_LENGTH)] = None,
    ):
        """Top-k items for a user, with reasons; unknown users get popular items
        (``fallback: true``). With pseudonymised ids the raw id is looked up under its
        pseudonym; ``user_id`` in the answer is the id as sent."""
        model = served()
        if isinstance(model, JSONResponse):
            return model
        stored = stored_id(user_id)
        entries = sessions.entries(stored)
        session = [item for item, _ in entries]
        kinds = [kind for _, kind in entries]
        result = model.recommend(stored, k, exclude_seen, category, session, kinds)
        if result.fallback:
            metrics.fallbacks.inc()
        if impressions is not None:
            impressions.record(
                impression(
                    request.scope[REQUEST_ID],
                    ERASED if stored in forgotten else stored,
                    model.name,
                    model.version,
                    result.fallback,
                    [i["item_id"] for i in result.items],
                    "recommendations",
                    k,
                    category,
                )
            )
        return JSONResponse(
            {
                "user_id": user_id,
                "model": model.name,
                "version": model.version,
                "fallback": result.fallback,
                "items": result.items,
            }
        )

    @app.get(
        "/v1/similar/{item_id}",
        response_model=contract.SimilarItems,
        responses={
            404: contract.error("the item is not in the catalogue"),
            **contract.INVALID,
            **contract.NOT_READY,
        },
    )
    async def similar(request: Request, item_id: ItemId, k: K = settings.default_k):
        """Items similar to this one: from co-interactions, or from its content (title,
        category, brand) when the model has not seen it."""
        model = served()
        if isinstance(model, JSONResponse):
            return model
        try:
            items, basis = model.similar(item_id, k)
        except UnknownItem:
            return _error(404, "unknown item", f"{item_id!r} is not in the catalogue")
        if impressions is not None:
            row = impression(
                request.scope[REQUEST_ID],
                "",  # no user: the items shown beside item_id
                model.name,
                model.version,
                False,
                [i["item_id"] for i in items],
                "similar",
                k,
                seed_item=item_id,
            )
            impressions.record(row)
        return JSONResponse(
            {
                "item_id": item_id,
                "model": model.name,
                "version": model.version,
                "basis": basis,
                "items": items,
            }
        )

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=contract.EventsAccepted,
        responses={
            400: contract.error("the body is not readable JSON"),
            404: contract.error("the user is not known to the model"),
            **contract.INVALID,
            **contract.NOT_READY,
        },
    )
    async def events(batch: EventBatch):
        """Recent events of a known user: kept in memory and used by their next
        recommendations (items just seen are excluded, related items move up)."""
        model = served()
        if isinstance(model, JSONResponse):
            return model
        stored = stored_id(batch.user_id)
        if not model.knows_user(stored):  # also for a user on the deletion list
            return _error(404, "unknown user", f"{batch.user_id!r} is not known to the model")
        positions = [model.catalogue.position(e.item_id) for e in batch.events]
        unknown = [
            e.item_id
            for e, p in zip(batch.events, positions, strict=True)
            if p < 0 or p >= model.catalogue.n_model_items
        ]
        if unknown:
            return _error(422, "unknown items", unknown[:10])
        kept = sessions.add(
            stored,
            [(p, e.event_type) for p, e in zip(positions, batch.events, strict=True)],
        )
        return {"user_id": batch.user_id, "accepted": len(positions), "session_events": kept}

    @app.get("/healthz", response_model=contract.Health)
    async def healthz():
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=contract.Ready,
        responses={503: contract.error("no verified model is loaded yet")},
    )
    async def readyz():
        current = holder.current
        if current is None:
            return _error(503, "not ready", holder.last_error)
        return {"status": "ready", "model": current.name, "version": current.version}

    @app.get("/metrics", response_class=Response, responses=contract.PROMETHEUS)
    async def prometheus():
        """Prometheus metrics (text exposition format); with several workers, the sum over
        them (prometheus-client's multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(tf_predict_router(savedmodels))  # TF Serving's REST predict API
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.forgotten = forgotten
    app.state.sessions = sessions
    app.state.impressions = impressions
    return app
