"""The service's HTTP contract: every body it sends, as pydantic models, and every status it can
answer per route, so ``/openapi.json`` is the truth a generated client can rely on.

The handlers build their JSON by hand (the fast path); these models only document it, and the
contract test (schemathesis against the running service) checks that what is sent matches.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(description="where in the request: a parameter name or a body path")
    message: str


class ErrorBody(BaseModel):
    """Every error the service sends has this shape."""

    error: str = Field(description="what went wrong, in a few words")
    detail: Any = Field(
        None,
        description="more about it: for 422 a list of {field, message}; for unknown items the "
        "ids; otherwise a sentence or null",
    )


class InvalidRequestBody(ErrorBody):
    error: Literal["invalid request", "unknown items"]
    detail: list[FieldError] | list[str]


class Reason(BaseModel):
    kind: str
    text: str
    features: list[str] | None = None
    contribution: float | None = None
    seed_item: str | None = None


class Item(BaseModel):
    item_id: str
    title: str | None
    category: str | None
    price: float | None


class RecommendedItem(Item):
    rank: int = Field(ge=1)
    score: float
    source: str = Field(description="candidates, model, session or popularity_fallback")
    reasons: list[Reason]


class SimilarItem(Item):
    rank: int = Field(ge=1)
    score: float


class Recommendations(BaseModel):
    user_id: str
    model: str
    version: int | None
    fallback: bool = Field(description="true: the user is unknown, these are popular items")
    items: list[RecommendedItem]


class SimilarItems(BaseModel):
    item_id: str
    model: str
    version: int | None
    basis: Literal["interactions", "content"]
    items: list[SimilarItem]


class EventsAccepted(BaseModel):
    user_id: str
    accepted: int
    session_events: int


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: str
    version: int | None


def error(description: str, model: type[BaseModel] = ErrorBody) -> dict:
    return {"model": model, "description": description}


NOT_READY = {503: error("no verified model is loaded yet (see /readyz)")}
INVALID = {422: error("a parameter or the body is invalid", InvalidRequestBody)}
PROMETHEUS = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_DESCRIPTION = (
    "The id of this request: the caller's X-Request-ID when it is a short token (letters, "
    "digits and . _ : -, at most 64 characters), else a new one. The impressions log records "
    "it with what was recommended."
)
# the routes whose answers are recorded in the impressions log
RECORDED = ("/v1/recommendations/{user_id}", "/v1/similar/{item_id}")


def with_request_id(document: dict) -> dict:
    """The OpenAPI ``document`` with the ``X-Request-ID`` response header on every response
    (the service adds it to each one) and the optional request header on the recorded routes."""
    header = {"description": REQUEST_ID_DESCRIPTION, "schema": {"type": "string"}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})[REQUEST_ID_HEADER] = header
            if path in RECORDED:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == REQUEST_ID_HEADER for p in parameters):
                    parameters.append(
                        {
                            "name": REQUEST_ID_HEADER,
                            "in": "header",
                            "required": False,
                            "description": "your id of this request (kept when it is a short "
                            "token; else the service makes one)",
                            "schema": {"type": "string"},
                        }
                    )
    return document
