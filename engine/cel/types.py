"""The CEL context, described once: message types, their fields, and the variables per context.

The same description produces the protobuf descriptors the C++ checker uses to reject unknown
fields at compile time, and the plain-dict views `engine.context` fills (`shape`), so the
checker and the data can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

PACKAGE = "billplane"

# Field types: "string", "int", "bool", "list<string>", "map<string,string>", a message name
# from MESSAGES, or "list<Message>".
MESSAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "Address": (
        ("line1", "string"), ("line2", "string"), ("city", "string"), ("postcode", "string"),
        ("country", "string"),
    ),
    "Customer": (
        ("id", "string"), ("name", "string"), ("country", "string"), ("region", "string"),
        ("postcode", "string"), ("type", "string"), ("tax_id", "string"),
        ("segment", "string"), ("since", "string"), ("exemptions", "list<string>"),
        ("address", "Address"),
    ),
    "Line": (
        ("index", "int"), ("sku", "string"), ("product_type", "string"),
        ("quantity", "string"), ("units", "int"), ("unit", "string"),
        ("description", "string"), ("amount_minor", "int"), ("period_start", "string"),
        ("period_end", "string"), ("attributes", "map<string,string>"),
    ),
    "Order": (
        ("id", "string"), ("date", "string"), ("currency", "string"), ("seller", "string"),
        ("contract", "string"), ("coupons", "list<string>"), ("customer", "Customer"),
        ("lines", "list<Line>"), ("attributes", "map<string,string>"),
        ("subtotal_minor", "int"),
    ),
    "Invoice": (
        ("subtotal_minor", "int"), ("discount_minor", "int"), ("tax_minor", "int"),
        ("total_minor", "int"), ("max_discount_percent", "int"), ("approvals", "list<string>"),
        ("currency_supported", "bool"),
    ),
}

CONTEXTS: dict[str, dict[str, str]] = {
    "order": {"order": "Order", "customer": "Customer"},
    "line": {"order": "Order", "customer": "Customer", "line": "Line"},
    "validation": {"order": "Order", "customer": "Customer", "invoice": "Invoice"},
}

# Upper bounds on list sizes (from the order schema), used by the static cost estimate.
LIST_BOUNDS: dict[str, int] = {"lines": 1000, "coupons": 20, "exemptions": 20, "approvals": 20,
                               "attributes": 50}

_SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "int": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
}


def variables(context: str) -> dict[str, str]:
    """Variable name -> message name for a context (`order`, `line`, `validation`)."""
    try:
        return CONTEXTS[context]
    except KeyError:
        raise ValueError(f"unknown CEL context {context!r} (use {', '.join(CONTEXTS)})") from None


def full_name(message: str) -> str:
    """The protobuf full name of a context message, e.g. `billplane.Order`."""
    return f"{PACKAGE}.{message}"


def _add_field(msg: descriptor_pb2.DescriptorProto, number: int, name: str, kind: str) -> None:
    fd = descriptor_pb2.FieldDescriptorProto
    repeated = kind.startswith("list<")
    inner = kind[5:-1] if repeated else kind
    field = msg.field.add(name=name, number=number,
                          label=fd.LABEL_REPEATED if repeated else fd.LABEL_OPTIONAL)
    if kind.startswith("map<"):
        entry = msg.nested_type.add(name="".join(p.title() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        key, value = kind[4:-1].split(",")
        entry.field.add(name="key", number=1, type=_SCALARS[key], label=fd.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=_SCALARS[value], label=fd.LABEL_OPTIONAL)
        field.label = fd.LABEL_REPEATED
        field.type = fd.TYPE_MESSAGE
        field.type_name = f".{full_name(msg.name)}.{entry.name}"
    elif inner in _SCALARS:
        field.type = _SCALARS[inner]
    else:
        field.type = fd.TYPE_MESSAGE
        field.type_name = "." + full_name(inner)


@lru_cache(maxsize=1)
def descriptor_pool_for_checking() -> descriptor_pool.DescriptorPool:
    """A pool holding one message per context type, so the checker knows every field."""
    proto = descriptor_pb2.FileDescriptorProto(name="billplane/cel_context.proto",
                                               package=PACKAGE, syntax="proto3")
    for name, fields in MESSAGES.items():
        msg = proto.message_type.add(name=name)
        for number, (field, kind) in enumerate(fields, start=1):
            _add_field(msg, number, field, kind)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return pool


def default(kind: str) -> Any:
    """The value an absent field takes: '' for strings, 0, False, [] and {}."""
    if kind == "string":
        return ""
    if kind == "int":
        return 0
    if kind == "bool":
        return False
    if kind.startswith("list<"):
        return []
    if kind.startswith("map<"):
        return {}
    return shape(kind, {})


def _coerce(kind: str, value: Any) -> Any:
    return _coercer(kind)(value)


def as_string(value: Any) -> str:
    """A `string` field: '' when absent, dates as ISO text."""
    if value is None:
        return ""
    if type(value) is str:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _bool(value: Any) -> bool:
    return False if value is None else bool(value)


def as_map(value: Any) -> dict[str, str]:
    """A `map<string,string>` field."""
    return {} if value is None else {str(k): as_string(v) for k, v in dict(value).items()}


@cache
def _coercer(kind: str) -> Callable[[Any], Any]:
    """The conversion of one field kind, resolved once (views are built per order)."""
    if kind == "string":
        return as_string
    if kind == "int":
        return _int
    if kind == "bool":
        return _bool
    if kind.startswith("list<"):
        inner = _coercer(kind[5:-1])

        def as_list(value: Any) -> list[Any]:
            return [] if value is None else [inner(item) for item in value]

        return as_list
    if kind.startswith("map<"):
        return as_map

    def as_message(value: Any) -> dict[str, Any]:
        return shape(kind, {} if value is None else value)

    return as_message


@cache
def _fields(message: str) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    return tuple((name, _coercer(kind)) for name, kind in MESSAGES[message])


def shape(message: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict with exactly the fields of `message`, defaults for absent ones."""
    get = values.get
    return {name: convert(get(name)) for name, convert in _fields(message)}
