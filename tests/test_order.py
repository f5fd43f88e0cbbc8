"""Order input: schema errors and semantic errors, each at its JSON path, all reported."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from engine.errors import BillplaneError
from engine.order import parse_order

ORDER: dict[str, Any] = {
    "id": "ORD-1", "date": "2026-03-15", "currency": "GBP", "seller": "acme-uk",
    "customer": {"id": "C-1", "country": "GB", "since": "2025-01-31", "exposure": "1200.50"},
    "coupons": ["WELCOME10"],
    "lines": [
        {"sku": "SEAT", "quantity": "10", "period": {"start": "2026-03-01", "end": "2026-04-01"}},
        {"sku": "PAY", "quantity": "300", "transactions": ["200", "100"]},
        {"sku": "IMPL", "quantity": "1", "unit_price": "999.99",
         "milestones": [{"name": "kickoff", "date": "2026-04-01"}],
         "usage": [{"period": "2026-03", "quantity": "0.5"}, {"period": "2026-04",
                                                               "quantity": "0.5"}]},
    ],
}


def errors_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(BillplaneError) as err:
        parse_order(data)
    return [(d.location.file, d.code) for d in err.value.diagnostics]


def test_valid_order_becomes_typed_values() -> None:
    order = parse_order(ORDER)
    assert order.date == dt.date(2026, 3, 15)
    assert order.exposure == Decimal("1200.50")
    assert order.coupons == ("WELCOME10",)
    seat, pay, impl = order.lines
    assert seat.quantity == Decimal(10) and seat.period is not None
    assert (seat.period.start, seat.period.end) == (dt.date(2026, 3, 1), dt.date(2026, 4, 1))
    assert pay.transactions == (Decimal(200), Decimal(100))
    assert impl.unit_price == Decimal("999.99")
    assert impl.milestones == (("kickoff", dt.date(2026, 4, 1)),)
    assert impl.usage == (("2026-03", Decimal("0.5")), ("2026-04", Decimal("0.5")))
    assert [line.index for line in order.lines] == [0, 1, 2]
    assert order.raw is ORDER


def test_schema_errors_carry_json_paths() -> None:
    bad = copy.deepcopy(ORDER)
    del bad["seller"]
    bad["lines"][2]["quantity"] = 3  # a number, not a decimal string
    bad["lines"][1]["colour"] = "red"
    got = errors_of(bad)
    assert ("order.seller", "invalid_order") in got  # missing
    assert ("order.lines[2].quantity", "invalid_order") in got
    assert ("order.lines[1].colour", "invalid_order") in got  # unknown field
    assert len(got) == 3


def test_semantic_errors_all_collected() -> None:
    bad = copy.deepcopy(ORDER)
    bad["date"] = "2026-02-30"
    bad["currency"] = "ZZZ"
    bad["customer"]["since"] = "2025-04-31"
    bad["lines"][0]["quantity"] = "-1"
    bad["lines"][0]["period"] = {"start": "2026-04-01", "end": "2026-03-01"}
    bad["lines"][1]["transactions"] = ["200", "-5"]
    bad["lines"][2]["usage"] = [{"period": "2026-13", "quantity": "1"}]  # adds up
    bad["lines"][2]["unit_price"] = "-1"
    assert sorted(errors_of(bad)) == sorted([
        ("order.date", "invalid_date"),
        ("order.currency", "unknown_currency"),
        ("order.customer.since", "invalid_date"),
        ("order.lines[0].quantity", "negative_quantity"),
        ("order.lines[0].period", "invalid_period"),
        ("order.lines[1].transactions[1]", "negative_amount"),
        ("order.lines[1].quantity", "quantity_mismatch"),  # 300 is not 200 + -5
        ("order.lines[2].usage[0].period", "invalid_date"),
        ("order.lines[2].unit_price", "negative_amount"),
    ])


def test_empty_period_is_invalid() -> None:
    bad = copy.deepcopy(ORDER)
    bad["lines"][0]["period"] = {"start": "2026-03-01", "end": "2026-03-01"}
    assert errors_of(bad) == [("order.lines[0].period", "invalid_period")]


@pytest.mark.parametrize("data", [None, [], "order", 42])
def test_not_an_object(data: Any) -> None:
    assert errors_of(data) == [("order", "invalid_order")]


def test_error_message_reads_path_code_message() -> None:
    bad = copy.deepcopy(ORDER)
    bad["lines"][0]["quantity"] = "-2"
    with pytest.raises(BillplaneError) as err:
        parse_order(bad)
    assert str(err.value) == (
        "order.lines[0].quantity: negative_quantity: quantity must not be negative")


def test_currency_without_minor_unit_is_refused() -> None:
    bad = dict(ORDER, currency="XAU")
    assert errors_of(bad) == [("order.currency", "unknown_currency")]


def test_fast_and_reference_validators_agree() -> None:
    # the compiled validator only accepts; the reference one must agree on every case
    from engine import order as module

    module._validator()
    if module._FAST is None:
        pytest.skip("jsonschema-rs is not installed")
    cases = [ORDER, dict(ORDER, id=""), dict(ORDER, lines=[]),
             dict(ORDER, currency="gbp"), dict(ORDER, extra=1)]
    for case in cases:
        assert module._FAST.is_valid(case) == module._validator().is_valid(case)


def messages_of(data: Any) -> list[str]:
    with pytest.raises(BillplaneError) as err:
        parse_order(data)
    return [str(d) for d in err.value.diagnostics]


def test_schema_messages_name_the_field_and_never_echo_its_value() -> None:
    bad = copy.deepcopy(ORDER)
    bad["customer"] = ["Priya Shah", "OX1 2JD"]
    bad["lines"][0]["quantity"] = Decimal("7.77")  # a JSON number, as parsed exactly
    bad["lines"][1]["transactions"] = ["200", "one hundred"]
    bad["date"] = "15/03/2026"
    got = messages_of(bad)
    assert got == [
        "order.customer: invalid_order: must be an object",
        "order.date: invalid_order: must be a date string YYYY-MM-DD",
        "order.lines[0].quantity: invalid_order: must be a decimal string with at most 15 "
        'digits before the point and 10 after, e.g. "1.10", not a JSON number',
        "order.lines[1].transactions[1]: invalid_order: must be a decimal string with at most "
        '15 digits before the point and 10 after, e.g. "1.10"',
    ]
    for value in ("Priya", "OX1", "7.77", "one hundred", "15/03"):
        assert not any(value in message for message in got)


def test_a_decimal_with_too_many_digits_is_told_the_limits() -> None:
    # a decimal string all the same: the message says what is wrong with it
    bad = copy.deepcopy(ORDER)
    bad["lines"][0]["quantity"] = "100000000000000000000"  # 10^20
    bad["lines"][1]["transactions"] = ["300", "0.000000000000000000000000000001"]  # 1e-30
    assert messages_of(bad) == [
        f"order.lines[{i}]{field}: invalid_order: must be a decimal string with at most 15 "
        'digits before the point and 10 after, e.g. "1.10"'
        for i, field in ((0, ".quantity"), (1, ".transactions[1]"))]


def test_semantic_messages_never_echo_values() -> None:
    bad = copy.deepcopy(ORDER)
    bad["date"] = "2026-02-30"
    bad["lines"][0]["period"] = {"start": "2026-04-01", "end": "2026-03-01"}
    got = messages_of(bad)
    assert got == [
        "order.date: invalid_date: is not a calendar date",
        "order.lines[0].period: invalid_period: start must be before end (the end day is not "
        "included)",
    ]


def test_unknown_country_codes_are_refused() -> None:
    bad = copy.deepcopy(ORDER)
    bad["customer"]["country"] = "ZZ"
    bad["customer"]["address"] = {"country": "XX"}
    assert errors_of(bad) == [("order.customer.address.country", "unknown_country"),
                              ("order.customer.country", "unknown_country")]
    good = copy.deepcopy(ORDER)
    good["customer"]["country"] = "GR"  # the ISO code, not the VAT prefix EL
    assert parse_order(good).customer["country"] == "GR"


def test_quantity_must_match_transactions_and_usage() -> None:
    bad = copy.deepcopy(ORDER)
    bad["lines"][1]["quantity"] = "0"  # transactions 200 + 100
    bad["lines"][2]["usage"] = [{"period": "2026-03", "quantity": "0.4"}]
    assert errors_of(bad) == [("order.lines[1].quantity", "quantity_mismatch"),
                              ("order.lines[2].usage", "quantity_mismatch")]


def test_a_milestone_dated_twice_is_refused() -> None:
    bad = copy.deepcopy(ORDER)
    bad["lines"][2]["milestones"] = [{"name": "kickoff", "date": "2026-04-01"},
                                     {"name": "kickoff", "date": "2026-05-01"}]
    assert errors_of(bad) == [("order.lines[2].milestones[1].name", "duplicate_milestone")]


def test_json_with_a_repeated_key_is_refused() -> None:
    from engine.order import loads_order

    with pytest.raises(BillplaneError) as err:
        loads_order('{"id": "A",\n "customer": {"id": "C", "id": "D"}}')
    assert err.value.code == "duplicate_key"
    assert str(err.value) == ("order.customer.id: duplicate_key: key 'id' is given twice in one"
                              " object (line 2, column 26)")
    with pytest.raises(BillplaneError) as err:
        loads_order('{"lines": [{"sku": "A"}, {"sku": "B", "period": {"end": 1, "end": 2}}]}')
    assert err.value.diagnostics[0].location.file == "order.lines[1].period.end"
    assert loads_order('{"q": 1.10}') == {"q": Decimal("1.10")}


def test_a_negative_zero_is_zero() -> None:
    # "-0" is not negative: it is read as zero, with its written decimals, so that an invoice
    # never shows a quantity of -0
    order = copy.deepcopy(ORDER)
    order["customer"]["exposure"] = "-0.00"
    order["lines"][0]["quantity"] = "-0"
    order["lines"][1].update(quantity="300", transactions=["300", "-0.0"])
    order["lines"][2].update(unit_price="-0.00")
    parsed = parse_order(order)
    line, pay, impl = parsed.lines
    assert impl.unit_price is not None
    texts = [f"{v:f}" for v in (parsed.exposure, line.quantity, *pay.transactions,
                                impl.unit_price)]
    assert texts == ["0.00", "0", "300", "0.0", "0.00"]


@pytest.mark.parametrize(("path", "value"), [
    (("lines", 0, "quantity"), "3\n"), (("date",), "2026-03-15\n"),
    (("currency",), "GBP\n"), (("customer", "country"), "GB\n"),
    (("lines", 2, "unit_price"), "999.99\n")])
def test_a_final_newline_does_not_match_a_pattern(path: tuple[Any, ...], value: str) -> None:
    # JSON Schema's `$` ends the text (Python's would also match before a final newline)
    data = copy.deepcopy(ORDER)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    where = "order" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
    assert errors_of(data) == [(where, "invalid_order")]
