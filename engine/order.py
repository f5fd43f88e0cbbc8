"""Order input: JSON Schema validation, then semantic checks, into an `engine.model.Order`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pycountry
from jsonschema import Draft202012Validator, validators

from engine.errors import BillplaneError, Diagnostic, Location
from engine.jsontext import RepeatedKey, line_column, locate_repeated_key, unique_keys
from engine.model import Order, OrderLine, Period
from engine.money import exponent
from engine.schema import pattern_of_strings

_rs: Any
try:  # the compiled validator is ~200x faster; it only answers "valid or not"
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - optional accelerator
    _rs = None

_OrderValidator = validators.extend(Draft202012Validator, {"pattern": pattern_of_strings})
_VALIDATOR: Draft202012Validator | None = None
_FAST: Any = None


def _validator() -> Draft202012Validator:
    """The order schema validator (jsonschema, Draft 2020-12), compiled once per process."""
    global _VALIDATOR, _FAST
    if _VALIDATOR is None:
        text = resources.files("engine").joinpath("schemas/order.json").read_text("utf-8")
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        _VALIDATOR = _OrderValidator(schema)
        if _rs is not None:
            _FAST = _rs.Draft202012Validator(schema)
    return _VALIDATOR


_COUNTRIES: frozenset[str] | None = None


def is_country(code: str) -> bool:
    """True when `code` is an ISO 3166-1 alpha-2 country code (pycountry's list)."""
    global _COUNTRIES
    if _COUNTRIES is None:
        _COUNTRIES = frozenset(str(c.alpha_2) for c in pycountry.countries)
    return code in _COUNTRIES


def loads_order(text: str) -> Any:
    """Order JSON text as plain data: numbers never become floats (the schema then names a
    number where a decimal string belongs) and a key given twice in an object is an error
    (`duplicate_key`), since JSON parsers disagree on which value wins."""
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=unique_keys)
    except RepeatedKey as exc:
        where, at = Location(), ""
        found = locate_repeated_key(text)
        if found is not None:
            path, offset = found
            line, column = line_column(text, offset)
            where, at = Location(json_path(path)), f" (line {line}, column {column})"
        raise BillplaneError(Diagnostic(
            "duplicate_key", f"key {str(exc)!r} is given twice in one object{at}",
            where)) from None
    except json.JSONDecodeError as exc:
        raise BillplaneError(Diagnostic(
            "invalid_json", f"{exc.msg} at line {exc.lineno}, column {exc.colno}")) from None


def json_path(parts: Any) -> str:
    """`order.lines[2].quantity` from a sequence of keys and indexes."""
    out = "order"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def decimal(text: str) -> Decimal:
    """A decimal string of the order as a Decimal; `"-0"` is zero (an invoice never shows a
    negative zero)."""
    number = Decimal(text)
    return number if number else abs(number)


class _Checker:
    """Collects semantic problems with their JSON paths."""

    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []

    def add(self, code: str, path: str, message: str) -> None:
        self.errors.append(Diagnostic(code, message, Location(path)))

    def date(self, value: str | None, path: str) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.add("invalid_date", path, "is not a calendar date")
            return None

    def amount(self, value: str, path: str, what: str, code: str = "negative_quantity"
               ) -> Decimal:
        number = decimal(value)
        if number < 0:
            self.add(code, path, f"{what} must not be negative")
        return number


# what a value of each pattern of the order schema must look like (never the value itself:
# messages go back to API callers and into logs, and orders carry personal data)
PATTERN_TEXT = {
    "^-?[0-9]{1,15}(\\.[0-9]{1,10})?$": ('a decimal string with at most 15 digits before the'
                                       ' point and 10 after, e.g. "1.10"'),
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$": "a date string YYYY-MM-DD",
    "^[0-9]{4}-[0-9]{2}$": "a month string YYYY-MM",
    "^[A-Z]{3}$": 'an ISO 4217 currency code, e.g. "GBP"',
    "^[A-Z]{2}$": 'an ISO 3166-1 alpha-2 country code, e.g. "GB"',
}
TYPE_TEXT = {"object": "an object", "array": "a list", "string": "a string",
          "integer": "a whole number", "number": "a number", "boolean": "true or false"}


def _schema_message(error: Any) -> tuple[str, str]:
    """(extra path step or '', message) for one schema error, without echoing the value."""
    validator, value, schema, instance = (error.validator, error.validator_value,
                                          error.schema, error.instance)
    if validator == "type":
        looks = PATTERN_TEXT.get(schema.get("pattern", ""))
        if looks and isinstance(instance, int | float | Decimal) and not isinstance(
                instance, bool):
            return "", f"must be {looks}, not a JSON number"
        return "", f"must be {looks or TYPE_TEXT.get(str(value), str(value))}"
    if validator == "pattern":
        return "", f"must be {PATTERN_TEXT.get(str(value), 'in the documented format')}"
    if validator == "enum":
        return "", f"must be one of {', '.join(str(v) for v in value)}"
    if validator == "minLength":
        return "", "must not be empty" if value == 1 else f"must be at least {value} characters"
    if validator == "maxLength":
        return "", f"must be at most {value} characters"
    if validator == "minItems":
        return "", f"must have at least {value} item(s)"
    if validator in ("maxItems", "maxProperties"):
        return "", f"must have at most {value} entries"
    return "", "is not valid here"


def _schema_errors(data: Any) -> list[Diagnostic]:
    validator = _validator()
    # fast accept; jsonschema remains the reference that words the errors
    if _FAST is not None and _FAST.is_valid(data):
        return []
    found: dict[tuple[str, str], Diagnostic] = {}
    for error in validator.iter_errors(data):
        path = json_path(error.absolute_path)
        instance = error.instance
        if error.validator == "required" and isinstance(instance, dict):
            problems = [(f"{path}.{key}", "is required")
                        for key in error.validator_value if key not in instance]
        elif error.validator == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            problems = [(f"{path}.{key}", f"is not a field of {path} (known: "
                                          f"{', '.join(sorted(known))})")
                        for key in instance if key not in known]
        else:
            _, message = _schema_message(error)
            problems = [(path, message)]
        for where, message in problems:
            found.setdefault((where, message),
                             Diagnostic("invalid_order", message, Location(where)))
    return list(found.values())


def _line(raw: dict[str, Any], i: int, check: _Checker) -> OrderLine:
    base = f"order.lines[{i}]"
    # paths are only written out for a problem: most lines have none
    quantity = Decimal(raw["quantity"])
    if not quantity:
        quantity = abs(quantity)  # "-0" is zero (as `decimal`, inline: once per line)
    elif quantity < 0:
        check.amount(raw["quantity"], f"{base}.quantity", "quantity")
    unit_price = None
    if "unit_price" in raw:
        unit_price = Decimal(raw["unit_price"])
        if not unit_price:
            unit_price = abs(unit_price)  # "-0" is zero, as for the quantity
        elif unit_price < 0:
            check.amount(raw["unit_price"], f"{base}.unit_price", "unit_price",
                         "negative_amount")
    transactions: tuple[Decimal, ...] = ()
    if "transactions" in raw:
        transactions = tuple(
            check.amount(t, f"{base}.transactions[{k}]", "transaction amount", "negative_amount")
            for k, t in enumerate(raw["transactions"])
        )
    period = None
    if "period" in raw:
        start = check.date(raw["period"]["start"], f"{base}.period.start")
        end = check.date(raw["period"]["end"], f"{base}.period.end")
        if start and end:
            if start >= end:
                check.add("invalid_period", f"{base}.period",
                          "start must be before end (the end day is not included)")
            period = Period(start, end)
    if transactions and sum(transactions) != quantity:
        check.add("quantity_mismatch", f"{base}.quantity",
                  "must equal the sum of the line's transactions")
    # most lines have neither milestones nor usage: their parsers run only when present
    milestones = _milestones(raw["milestones"], base, check) if "milestones" in raw else ()
    usage = _usage(raw["usage"], quantity, base, check) if "usage" in raw else ()
    return OrderLine(
        index=i,
        sku=raw["sku"],
        quantity=quantity,
        description=raw.get("description", ""),
        unit_price=unit_price,
        transactions=transactions,
        period=period,
        milestones=milestones,
        usage=usage,
        attributes=dict(raw.get("attributes", {})),
    )


def _milestones(raw: list[dict[str, Any]], base: str, check: _Checker
                ) -> tuple[tuple[str, dt.date], ...]:
    milestones = []
    named = set()
    for k, m in enumerate(raw):
        if m["name"] in named:
            check.add("duplicate_milestone", f"{base}.milestones[{k}].name",
                      "names a milestone already dated on this line")
        named.add(m["name"])
        day = check.date(m["date"], f"{base}.milestones[{k}].date")
        if day:
            milestones.append((m["name"], day))
    return tuple(milestones)


def _usage(raw: list[dict[str, Any]], quantity: Decimal, base: str, check: _Checker
           ) -> tuple[tuple[str, Decimal], ...]:
    usage = []
    for k, u in enumerate(raw):
        month = u["period"]
        if not 1 <= int(month[5:7]) <= 12:
            check.add("invalid_date", f"{base}.usage[{k}].period", "is not a month (YYYY-MM)")
        usage.append((month, check.amount(u["quantity"], f"{base}.usage[{k}].quantity",
                                          "usage quantity")))
    if usage and sum(q for _, q in usage) != quantity:
        check.add("quantity_mismatch", f"{base}.usage",
                  "usage quantities must add up to the line's quantity")
    return tuple(usage)


def parse_order(data: Any) -> Order:
    """Validate an order (plain JSON data) and build an `Order`; every problem is reported."""
    if isinstance(data, Order):
        return data
    errors = _schema_errors(data)
    if errors:
        raise BillplaneError(errors)
    check = _Checker()
    try:
        exponent(data["currency"])
    except BillplaneError as exc:
        check.add("unknown_currency", "order.currency", exc.diagnostics[0].message)
    date = check.date(data["date"], "order.date")
    customer = data["customer"]
    for path, code in (("order.customer.country", customer["country"]),
                       ("order.customer.address.country",
                        (customer.get("address") or {}).get("country"))):
        if code is not None and not is_country(code):
            check.add("unknown_country", path,
                      'must be an ISO 3166-1 alpha-2 country code, e.g. "GB"')
    check.date(customer.get("since"), "order.customer.since")
    exposure = Decimal(0)
    if "exposure" in customer:
        exposure = decimal(customer["exposure"])
    lines = [_line(raw, i, check) for i, raw in enumerate(data["lines"])]
    if check.errors:
        raise BillplaneError(check.errors)
    assert date is not None
    return Order(
        id=data["id"],
        date=date,
        currency=data["currency"],
        seller=data["seller"],
        customer=customer,
        lines=lines,
        coupons=tuple(data.get("coupons", ())),
        contract=data.get("contract", ""),
        approvals=tuple(data.get("approvals", ())),
        attributes=dict(data.get("attributes", {})),
        exposure=exposure,
        raw=data,
    )
