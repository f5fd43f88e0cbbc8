"""HEAD is answered like GET without the body (RFC 9110 9.3.2) on every GET route: the same
status and headers, Content-Length included, the same key checks; the OpenAPI document stays
GET-only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fakes import order
from api_service import Service


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Service]:
    service = Service(f"sqlite:///{tmp_path / 'h.db'}")
    yield service
    service.close()


def _get_paths(s: Service) -> list[str]:
    """Every GET operation of the document (path parameters filled in), and the pages."""
    doc = s.client.get("/openapi.json").json()
    paths = [re.sub(r"\{[^}]+\}", "T-2026-00001", path) for path, ops in doc["paths"].items()
             if "get" in ops]
    return [*paths, "/openapi.json", "/docs", "/redoc", "/docs/assets/swagger-ui.css"]


def test_every_get_route_answers_head_with_the_status_and_headers_of_get(s: Service) -> None:
    h = s.auth("admin")
    assert s.client.post("/v1/invoices", json={"order": order()},
                         headers=s.auth("billing")).status_code == 201
    paths = _get_paths(s)
    assert {"/healthz", "/readyz", "/metrics", "/v1/invoices"} <= set(paths)
    for path in paths:
        got, head = s.client.get(path, headers=h), s.client.head(path, headers=h)
        assert head.status_code == got.status_code, (path, head.status_code, got.text)
        assert head.content == b"", path
        want = dict(got.headers)
        if path == "/metrics":  # its text grows with every request counted
            assert int(head.headers.pop("content-length")) > 0
            want.pop("content-length")
        assert dict(head.headers) == want, path


def test_head_without_a_key_is_the_401_of_get_without_its_body(s: Service) -> None:
    got, head = s.client.get("/v1/invoices"), s.client.head("/v1/invoices")
    assert (head.status_code, head.content) == (401, b"")
    assert head.headers["www-authenticate"] == "Bearer"
    assert dict(head.headers) == dict(got.headers)
    assert got.json()["code"] == "unauthorized"


def test_the_openapi_document_lists_no_head_operations(s: Service) -> None:
    doc = s.client.get("/openapi.json").json()
    assert not [path for path, ops in doc["paths"].items() if "head" in ops]


def test_head_is_counted_as_head_by_route(s: Service) -> None:
    assert s.client.head("/healthz").status_code == 200
    text = s.client.get("/metrics").text
    assert 'billplane_http_requests_total{method="HEAD",route="/healthz",status="200"} 1.0' \
        in text


def _asgi(app: Any, method: str, path: str,
          headers: list[tuple[bytes, bytes]] | None = None) -> list[dict[str, Any]]:
    """The messages the app sends for one request, as a server would receive them."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": headers or [],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize(("path", "status"), [("/healthz", 200), ("/v1/invoices", 401),
                                              ("/v1/invoices/T-1/void", 405)])
def test_the_app_itself_sends_no_body_for_head(s: Service, path: str, status: int) -> None:
    """Not left to the server (or the test client) to drop."""
    head = _asgi(s.app, "HEAD", path)
    got = _asgi(s.app, "GET", path)
    assert head[0]["status"] == got[0]["status"] == status
    assert head[0]["headers"] == got[0]["headers"]
    assert b"".join(m.get("body", b"") for m in head[1:]) == b""
    assert b"".join(m.get("body", b"") for m in got[1:]) != b""


def test_a_body_sent_in_parts_is_dropped_and_the_response_ended() -> None:
    from api.head import HeadAsGet

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["method"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    sent = _asgi(HeadAsGet(app), "HEAD", "/")
    assert seen == ["GET"]
    assert sent == [{"type": "http.response.start", "status": 200,
                     "headers": [(b"content-length", b"6")]},
                    {"type": "http.response.body", "body": b""}]
