"""Prometheus metrics of one app: requests, latencies, evaluations, the active revision."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyError, too_large

# the methods counted by name; any other token a client sends is counted as "other" (a label
# value a client chose would add a series each time)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per app, so several apps (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("billplane_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("billplane_http_request_duration_seconds",
                                 "HTTP request latency", ["method", "route"], buckets=BUCKETS,
                                 registry=r)
        self.evaluations = Counter("billplane_evaluations", "Order evaluations by outcome",
                                   ["outcome"], registry=r)
        self.issued = Counter("billplane_invoices_issued", "Invoices issued", registry=r)
        self.activation_refused = Counter("billplane_policy_activation_refused",
                                          "Policy revisions refused activation", registry=r)
        self.active_info = Gauge("billplane_policy_active_info", "The active policy revision",
                                 ["revision", "digest"], registry=r)

    def set_active(self, revision: str, digest: str) -> None:
        """Exactly one labelled series: the revision being served."""
        self.active_info.clear()
        self.active_info.labels(revision=revision, digest=digest).set(1)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            self.metrics.requests.labels(method, template, str(status[0])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """Refuses bodies larger than `limit` bytes with 413 before they are read whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(BodyError):
    """A BodyError (an HTTPException) so the framework's body parser passes it through
    unchanged, and the one 413 envelope answers it."""

    def __init__(self, limit: int) -> None:
        super().__init__(too_large(limit))


async def _too_large(send: Send, limit: int) -> None:
    import json

    error = too_large(limit)
    body = json.dumps({"code": error.code, "message": error.message,
                       "details": error.details}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
