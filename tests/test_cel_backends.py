"""The two CEL backends: same checks, same results, runtime errors as CelEvalError."""

from __future__ import annotations

import pytest

from engine.cel import CelCompileError, CelEvalError, get_backend
from engine.cel.types import CONTEXTS, MESSAGES, descriptor_pool_for_checking, full_name, shape

BACKENDS = ["cel-expr", "cel-python"]

ORDER = shape("Order", {
    "id": "O-1", "currency": "GBP", "coupons": ["VIP"],
    "customer": {"id": "C-1", "country": "DE", "type": "business", "exemptions": ["charity"]},
    "lines": [shape("Line", {"index": 0, "sku": "X", "units": 3}),
              shape("Line", {"index": 1, "sku": "Y", "units": 0})],
})


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_field_fails_at_compile_time(backend: str) -> None:
    with pytest.raises(CelCompileError) as info:
        get_backend(backend).compile("order.customer.contry == 'DE'", "order")
    assert info.value.code == "cel_unknown_field"
    assert "contry" in info.value.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_macro_variables_are_typed(backend: str) -> None:
    cel = get_backend(backend)
    program = cel.compile("order.lines.exists(l, l.sku == 'X')", "order")
    assert program.source == "order.lines.exists(l, l.sku == 'X')"
    assert program.evaluate(cel.activation({"order": ORDER, "customer": ORDER["customer"]}))
    with pytest.raises(CelCompileError) as info:
        cel.compile("order.lines.exists(l, l.skuu == 'X')", "order")
    assert info.value.code == "cel_unknown_field"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("expression", "expected"), [
    ("customer.country == 'DE' && customer.type == 'business'", True),
    ("'charity' in customer.exemptions", True),
    ("order.lines.filter(l, l.units > 0).size() == 1", True),
    ("order.lines.map(l, l.sku).exists(s, s == 'Y')", True),
    ("order.lines.all(l, l.units > 0)", False),
    ("customer.tax_id == '' && customer.address.city == ''", True),
    ("order.coupons.size() == 1 && order.coupons[0] == 'VIP'", True),
    ("order.lines[1].units * 7 + 2 == 2", True),
    ("order.lines[0].units / 2 == 1 && order.lines[0].units % 2 == 1", True),
    ("'DE-' + customer.id == 'DE-C-1'", True),
    ("customer.id.size() == 3 && size(order.lines) == 2", True),
    ("int('42') == 42 && string(order.lines[0].units) == '3'", True),
    ("customer.country in ['AT', 'DE', 'FR']", True),
    ("{'a': 1}['a'] == 1 && has(customer.country)", True),
])
def test_backends_agree(backend: str, expression: str, expected: bool) -> None:
    cel = get_backend(backend)
    program = cel.compile(expression, "order")
    result = program.evaluate(cel.activation({"order": ORDER, "customer": ORDER["customer"]}))
    assert result is expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("expression", [
    "order.lines[2].sku == 'Z'",  # index out of range
    "10 / order.lines[1].units == 1",  # division by zero
    "order.attributes['absent'] == ''",  # missing key
    "9223372036854775807 + order.lines.size() > 0",  # int64 overflow
])
def test_runtime_errors_raise_cel_eval_error(backend: str, expression: str) -> None:
    cel = get_backend(backend)
    program = cel.compile(expression, "order")
    with pytest.raises(CelEvalError) as info:
        program.evaluate(cel.activation({"order": ORDER, "customer": ORDER["customer"]}))
    message = str(info.value)
    assert message and "INVALID_ARGUMENT" not in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_bool_result_is_refused_unless_asked_for(backend: str) -> None:
    cel = get_backend(backend)
    with pytest.raises(CelCompileError) as info:
        cel.compile("order.lines.size()", "order")
    assert info.value.code == "cel_type_error"
    program = cel.compile("order.lines.size() + 40", "order", result="int")
    assert program.evaluate(cel.activation({"order": ORDER, "customer": {}})) == 42
    program = cel.compile("order.id + '/' + customer.country", "order", result="string")
    assert program.evaluate(
        cel.activation({"order": ORDER, "customer": ORDER["customer"]})) == "O-1/DE"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("expression", "code"), [
    ("(" * 40 + "true" + ")" * 40, "cel_too_large"),
    ("customer.id == '" + "x" * 5000 + "'", "cel_too_large"),
    ("[" + ", ".join(["1"] * 2000) + "].size() > 0", "cel_too_large"),
    ("order.lines.exists(a, order.lines.exists(b, order.lines.exists(c, a == c)))",
     "cel_too_costly"),
    ("order.lines.all(a, order.lines.filter(b, b.sku == a.sku).size() == 1)", "cel_too_costly"),
])
def test_pathological_expressions_are_refused(backend: str, expression: str, code: str) -> None:
    with pytest.raises(CelCompileError) as info:
        get_backend(backend).compile(expression, "order")
    assert info.value.code == code


@pytest.mark.parametrize("backend", BACKENDS)
def test_comprehension_over_lines_within_budget_is_accepted(backend: str) -> None:
    cel = get_backend(backend)
    program = cel.compile("order.lines.filter(l, l.units > 2).size() == 1 && "
                          "order.lines.exists(l, l.sku in customer.exemptions)",
                          "order")
    assert program.evaluate(
        cel.activation({"order": ORDER, "customer": ORDER["customer"]})) is False


def test_unknown_backend_and_context_are_reported() -> None:
    with pytest.raises(ValueError, match="unknown CEL backend"):
        get_backend("cel-js")
    with pytest.raises(ValueError, match="unknown CEL context"):
        get_backend().compile("true", "invoice")  # type: ignore[arg-type]


def test_context_description_drives_the_checker() -> None:
    pool = descriptor_pool_for_checking()
    for message, fields in MESSAGES.items():
        descriptor = pool.FindMessageTypeByName(full_name(message))
        assert [f.name for f in descriptor.fields] == [name for name, _ in fields]
    assert set(CONTEXTS["line"]) == {"order", "customer", "line"}
    assert set(CONTEXTS["validation"]) == {"order", "customer", "invoice"}


def test_shape_fills_defaults_and_drops_unknown_fields() -> None:
    view = shape("Customer", {"id": "C-9", "email": "x@example.com", "exemptions": None})
    assert view["id"] == "C-9" and "email" not in view
    assert view["tax_id"] == "" and view["exemptions"] == []
    assert view["address"] == {"line1": "", "line2": "", "city": "", "postcode": "",
                               "country": ""}
    line = shape("Line", {})
    assert line["units"] == 0 and line["attributes"] == {}
    assert shape("Invoice", {})["currency_supported"] is False
