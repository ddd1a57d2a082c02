"""Request ids: the caller's when it is a short token, else a new one; the contract says so on
every response."""

from __future__ import annotations

from shoprec.registry import LocalStore, Registry
from shoprec.serving.app import create_app
from shoprec.serving.reloader import ModelHolder
from shoprec.serving.request_ids import request_id


def test_a_sane_caller_id_is_kept_and_anything_else_replaced():
    assert request_id([(b"accept", b"*/*"), (b"x-request-id", b"req-42.a:b_c")]) == "req-42.a:b_c"
    made = {
        request_id(headers)
        for headers in (
            [],
            [(b"x-request-id", b"")],
            [(b"x-request-id", b"a" * 65)],
            [(b"x-request-id", b"has space")],
            [(b"x-request-id", "caf\u00e9".encode("latin-1"))],
            [(b"x-request-id", b"-leading-dash")],
        )
    }
    assert len(made) == 6  # each a new one
    assert all(len(m) == 32 and int(m, 16) >= 0 for m in made)


def test_the_openapi_document_names_the_header_on_every_response(tmp_path):
    holder = ModelHolder(Registry(LocalStore(tmp_path / "registry")), "m", "production", None)
    document = create_app(holder).openapi()
    responses = [
        (path, status, response)
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for status, response in operation["responses"].items()
    ]
    assert len(responses) > 10
    missing = [(p, s) for p, s, r in responses if "X-Request-ID" not in r.get("headers", {})]
    assert missing == []
    parameters = document["paths"]["/v1/recommendations/{user_id}"]["get"]["parameters"]
    assert {"name": "X-Request-ID", "in": "header"}.items() <= next(
        p for p in parameters if p["name"] == "X-Request-ID"
    ).items()
    holder.stop()
