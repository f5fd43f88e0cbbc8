"""The OpenAPI document: the order's JSON Schema and the links between operations.

The request models type `order` as an object because the engine validates it (with its
locations and codes); the document shows clients the order schema the engine validates
against, its `$defs` as components. Links say which response value feeds which operation
(an issued invoice's number -> read, credit, void it), for clients and for stateful testing.
Operation ids are the route functions' names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

ORDER_BODIES = ("EvaluateRequest", "IssueRequest")


def _link(operation: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation,
            "parameters": {name: f"$response.body#/{field}" for name, field in parameters.items()}}


# operation -> status -> link name -> link
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "issue": {"201": {
        "GetInvoice": _link("get_invoice", number="number"),
        "GetInvoiceOrder": _link("get_order", number="number"),
        "CreditInvoice": _link("create_credit_note", number="number"),
        "VoidInvoice": _link("void_invoice", number="number"),
    }},
    "void_invoice": {"200": {"GetInvoice": _link("get_invoice", number="number")}},
    "create_credit_note": {
        "201": {"GetCreditNote": _link("get_credit_note", number="number"),
                "GetInvoice": _link("get_invoice", number="invoice")},
        "202": {"GetCreditRequest": _link("get_request", request_id="id"),
                "ApproveCreditRequest": _link("approve", request_id="id"),
                "RejectCreditRequest": _link("reject", request_id="id")},
    },
    "approve": {"201": {"GetCreditNote": _link("get_credit_note", number="number")}},
    "create": {"201": {"RevokeKey": _link("revoke", prefix="prefix")}},
}


UNPROCESSABLE = {"description": "Cannot be processed",
                 "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name."""
    return route.name


def order_schema() -> dict[str, Any]:
    """The engine's order JSON Schema (the file it validates orders with)."""
    text = resources.files("engine").joinpath("schemas/order.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (f"#/components/schemas/Order_{v.removeprefix('#/$defs/')}"
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                    else _rewrite_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def install(app: FastAPI) -> None:
    """Serve the document with the order schema and the links added."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        order = _rewrite_refs(order_schema())
        for name, definition in order.pop("$defs", {}).items():
            schemas[f"Order_{name}"] = definition
        order.pop("$schema", None)
        order.pop("$id", None)
        schemas["Order"] = order
        for body in ORDER_BODIES:
            if body in schemas:
                schemas[body]["properties"]["order"] = {"$ref": "#/components/schemas/Order"}
        for methods in doc.get("paths", {}).values():
            for op in methods.values():
                # every operation may answer 422 in the envelope: the app-wide checks refuse
                # unknown query parameters and unstorable text anywhere; FastAPI's own 422
                # entry describes a body (`{"detail": ...}`) this service never sends
                op.setdefault("responses", {})["422"] = UNPROCESSABLE
                for status, links in LINKS.get(op.get("operationId", ""), {}).items():
                    if status in op.get("responses", {}):
                        op["responses"][status]["links"] = links
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
