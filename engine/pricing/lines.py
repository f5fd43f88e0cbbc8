"""The pricing stage: one `PricedLine` per order line, rounded at line level."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic, Location
from engine.model import Order, OrderLine, PricedLine, TraceEntry, trace_entry
from engine.money import MAX_MINOR, PRECISION, SHOWN, amount_limit, in_range, quantize
from engine.pricing.catalog import Entry, catalog, find_price
from engine.pricing.models import Amounts, Quote, quote
from engine.pricing.proration import proration

MAX_TRANSACTIONS = 10_000
_MILESTONES_KEY = "pricing.milestones"


def _transactions(price: dict[str, Any], line: OrderLine, entry: Entry) -> Amounts:
    """The line's transactions; for percentage pricing without a list, `quantity` is the total
    and `attributes.transaction_count` the number of equal transactions."""
    if line.transactions or price["model"] != "percentage":
        return line.transactions
    raw = line.attributes.get("transaction_count")
    if raw is None:
        return ()
    if not raw.isdigit() or not 0 < int(raw) <= MAX_TRANSACTIONS:
        raise BillplaneError(Diagnostic(
            "invalid_order",
            f"transaction_count of {line.sku} must be a whole number from 1 to"
            f" {MAX_TRANSACTIONS}",
            Location(f"order.lines[{line.index}].attributes.transaction_count"),
            entry.book.name))
    count = int(raw)
    each = line.quantity / count
    share = Fraction(line.quantity) / count
    if Fraction(each) != share:
        # equal shares a decimal cannot write (100.10 / 6): exact fractions, so that the
        # transactions add up to the quantity and a rounding tie stays one
        return (share,) * count
    return (each,) * count


def _milestone_names(bundle: Bundle) -> frozenset[str]:
    """Every milestone name a RecognitionRule declares; worked out once per bundle."""
    found = bundle.index.get(_MILESTONES_KEY)
    if found is None:
        found = bundle.index[_MILESTONES_KEY] = frozenset(
            str(m["name"]) for doc in bundle.kind("RecognitionRule")
            for m in doc.spec.get("milestones") or ())
    return found


def _line_problems(entry: Entry, line: OrderLine, milestones: frozenset[str]
                   ) -> list[Diagnostic]:
    """What the order says about a line that its product or the bundle does not allow."""
    found = []
    base = f"order.lines[{line.index}]"
    product = entry.product
    if product.get("whole_units") and line.quantity != line.quantity.to_integral_value():
        unit = f" ({product['unit']})" if product.get("unit") else ""
        found.append(Diagnostic("invalid_quantity",
                                f"must be a whole number: {line.sku} is sold in whole units"
                                f"{unit}", Location(f"{base}.quantity"), entry.book.name))
    for k, (name, _) in enumerate(line.milestones):
        if name not in milestones:
            found.append(Diagnostic("unknown_milestone",
                                    "names a milestone that no RecognitionRule declares",
                                    Location(f"{base}.milestones[{k}].name")))
    return found


def _price_one(entry: Entry, order: Order, line: OrderLine, day: str
               ) -> tuple[str, Quote, str]:
    """The line's model, quote and the `file:line` of what priced it (the price entry, or the
    product for a price given on the order)."""
    found = None if line.unit_price is not None else find_price(entry, order.currency, day)
    price = found[0] if found is not None else None
    if line.transactions and (price is None or price["model"] != "percentage"):
        raise BillplaneError(Diagnostic(
            "invalid_order", f"transactions are only for percentage-priced products; {line.sku}"
            " is priced by quantity", Location(f"order.lines[{line.index}].transactions"),
            entry.book.name))
    if line.unit_price is not None:
        # an explicit price on the order: per_unit semantics, no catalogue lookup
        unit = line.unit_price
        return "per_unit", Quote(unit * line.quantity, unit,
                                 {"unit_amount": str(unit), "source": "order.unit_price"}
                                 ), entry.where
    if found is None:
        raise BillplaneError(Diagnostic(
            "no_price",
            f"no {order.currency} price for sku {line.sku} effective on {day}",
            Location(f"order.lines[{line.index}].sku"), entry.book.name))
    price = found[0]
    result = quote(price, line.quantity, _transactions(price, line, entry))
    if entry.product.get("type") == "subscription":
        share = proration(line.period, price.get("interval"))
        if share is not None:
            days, full = share
            result.amount = result.amount * days / full
            result.inputs["proration"] = f"{days}/{full} days"
    return price["model"], result, found[1]


def _too_large(what: str, path: str, rule: str = "") -> Diagnostic:
    return Diagnostic("amount_out_of_range",
                      f"{what} more than an invoice can carry ({MAX_MINOR} minor units, the"
                      " largest integer policies compute with)", Location(path), rule)


def price_lines(bundle: Bundle, order: Order, scope: Any, trace: list[TraceEntry] | None
                ) -> list[PricedLine]:
    """Price every order line with its product's PriceBook; all unknown skus reported at once.
    Traces each amount unless `trace` is None.

    Amounts are exact (quantity and price of up to 25 digits each); a line above `MAX_MINOR`
    minor units is `amount_out_of_range` at its quantity, lines that add up to more at
    `order.lines`."""
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, PRECISION)
        priced = _price_lines(bundle, order, trace)
    total = Decimal(0)
    for line in priced:
        total += line.amount
    if not in_range(total, order.currency):
        raise BillplaneError(_too_large("the lines' amounts add up to", "order.lines"))
    return priced


def _price_lines(bundle: Bundle, order: Order, trace: list[TraceEntry] | None
                 ) -> list[PricedLine]:
    products = catalog(bundle)
    limit = amount_limit(order.currency)
    milestones = _milestone_names(bundle)
    day = order.date.isoformat()
    errors: list[Diagnostic] = []
    priced: list[PricedLine] = []
    for line in order.lines:
        entry = products.get(line.sku)
        if entry is None:
            errors.append(Diagnostic("unknown_product", f"no product with sku {line.sku}",
                                     Location(f"order.lines[{line.index}].sku")))
            continue
        if line.milestones or entry.product.get("whole_units"):
            problems = _line_problems(entry, line, milestones)
            if problems:
                errors.extend(problems)
                continue
        try:
            model, result, where = _price_one(entry, order, line, day)
        except BillplaneError as exc:
            errors.extend(exc.diagnostics)
            continue
        amount = quantize(result.amount, order.currency, entry.rounding)
        if not -limit <= amount <= limit:
            errors.append(_too_large("the line's amount is", f"order.lines[{line.index}].quantity",
                                     entry.book.name))
            continue
        product = entry.product
        priced.append(PricedLine(
            order_line=line, product=product, product_type=product.get("type", "one_off"),
            price_rule=entry.book.name, model=model, unit_amount=result.unit_amount,
            amount=amount, recognition_rule=product.get("recognition", ""), price_where=where))
        if trace is None:
            continue
        inputs = {"quantity": str(line.quantity), "model": model, **result.inputs}
        if result.amount != amount:
            inputs["unrounded"] = str(SHOWN.plus(result.amount))
            inputs["rounding"] = entry.rounding
        trace.append(trace_entry(f"lines[{line.index}].amount", entry.book.name, where, amount,
                                 inputs))
    if errors:
        raise BillplaneError(errors)
    return priced


def description(line: PricedLine) -> str:
    """The line's description: from the order, else the product name, else the sku."""
    return (line.order_line.description or line.product.get("name")
            or line.order_line.sku)


def quantity_text(value: Decimal) -> str:
    """A quantity as given (no exponent notation)."""
    return f"{value:f}"
