"""The pricing stage: one `PricedLine` per order line, rounded at line level."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic, Location
from engine.model import Order, OrderLine, PricedLine, TraceEntry
from engine.money import quantize
from engine.pricing.catalog import Entry, catalog, find_price
from engine.pricing.models import Quote, quote
from engine.pricing.proration import proration

MAX_TRANSACTIONS = 10_000


def _transactions(price: dict[str, Any], line: OrderLine, entry: Entry) -> tuple[Decimal, ...]:
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
            f" {MAX_TRANSACTIONS} (got {raw!r})",
            Location(f"order.lines[{line.index}].attributes.transaction_count"),
            entry.book.name))
    count = int(raw)
    return (line.quantity / count,) * count


def _price_one(entry: Entry, order: Order, line: OrderLine, day: str) -> tuple[str, Quote]:
    if line.unit_price is not None:
        # an explicit price on the order: per_unit semantics, no catalogue lookup
        unit = line.unit_price
        return "per_unit", Quote(unit * line.quantity, unit,
                                 {"unit_amount": str(unit), "source": "order.unit_price"})
    price = find_price(entry, order.currency, day)
    if price is None:
        raise BillplaneError(Diagnostic(
            "no_price",
            f"no {order.currency} price for sku {line.sku} effective on {day}",
            Location(f"order.lines[{line.index}].sku"), entry.book.name))
    result = quote(price, line.quantity, _transactions(price, line, entry))
    if entry.product.get("type") == "subscription":
        share = proration(line.period, price.get("interval"))
        if share is not None:
            days, full = share
            result.amount = result.amount * days / full
            result.inputs["proration"] = f"{days}/{full} days"
    return price["model"], result


def price_lines(bundle: Bundle, order: Order, scope: Any, trace: list[TraceEntry]
                ) -> list[PricedLine]:
    """Price every order line with its product's PriceBook; all unknown skus reported at once."""
    products = catalog(bundle)
    day = order.date.isoformat()
    errors: list[Diagnostic] = []
    priced: list[PricedLine] = []
    for line in order.lines:
        entry = products.get(line.sku)
        if entry is None:
            errors.append(Diagnostic("unknown_product", f"no product with sku {line.sku}",
                                     Location(f"order.lines[{line.index}].sku")))
            continue
        try:
            model, result = _price_one(entry, order, line, day)
        except BillplaneError as exc:
            errors.extend(exc.diagnostics)
            continue
        amount = quantize(result.amount, order.currency, entry.rounding)
        product = entry.product
        priced.append(PricedLine(
            order_line=line, product=product, product_type=product.get("type", "one_off"),
            price_rule=entry.book.name, model=model, unit_amount=result.unit_amount,
            amount=amount, recognition_rule=product.get("recognition", "")))
        inputs = {"quantity": str(line.quantity), "model": model, **result.inputs}
        if result.amount != amount:
            inputs["unrounded"] = str(result.amount)
            inputs["rounding"] = entry.rounding
        trace.append(TraceEntry(f"lines[{line.index}].amount", entry.book.name,
                                entry.book.where, amount, inputs))
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
