"""HEAD answered like GET without the body (RFC 9110 9.3.2), for every route at once.

Load balancers and uptime checkers probe with HEAD. The API's routes are declared for GET
only (the OpenAPI document lists GET operations), so a HEAD request is served as a GET: the
same route, dependencies and key checks, hence the same status and headers (Content-Length
included, as a GET would send it), and the body is dropped here.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY = frozenset({"http.response.body", "http.response.pathsend",
                   "http.response.zerocopysend"})


class HeadAsGet:
    """Serves a HEAD request as a GET and sends the response without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # a copy: the server reads its scope's method to frame the response, and the
        # middlewares outside this one (metrics, the 500 log line) report the request's
        inner = {**scope, "method": "GET"}

        async def headers_only(message: Message) -> None:
            if message["type"] in _BODY:
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        try:
            await self.app(inner, receive, headers_only)
        finally:
            if "route" in inner:  # the route the router chose, for the outer middlewares
                scope["route"] = inner["route"]
