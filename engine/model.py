"""Shared evaluation data: the validated order, priced lines and the trace.

The stages of `engine.evaluate` hand these to each other:
order -> pricing (lines with amounts) -> discounts -> tax -> totals -> credit -> recognition
-> validations -> invoice document. Amounts are `Decimal`, already rounded to the currency's
minor units wherever they are stored here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DERIVED = "derived"
"""Trace rule of an amount computed from other amounts of the document (docs/invoice.md)."""
DEFAULT = "default"
"""Trace rule of an amount the engine's default produced where no policy applies."""
PSEUDO_RULES = frozenset({"order", DERIVED, DEFAULT})
"""Trace rules that name no policy document (never the cause of a policy change)."""


@dataclass(frozen=True)
class Period:
    start: dt.date  # inclusive
    end: dt.date  # exclusive


@dataclass
class OrderLine:
    index: int
    sku: str
    quantity: Decimal
    description: str = ""
    unit_price: Decimal | None = None  # explicit override from the order
    transactions: tuple[Decimal, ...] = ()
    period: Period | None = None
    milestones: tuple[tuple[str, dt.date], ...] = ()
    usage: tuple[tuple[str, Decimal], ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Order:
    """A validated order (see engine/schemas/order.json); `raw` is the input as given."""

    id: str
    date: dt.date
    currency: str
    seller: str
    customer: dict[str, Any]
    lines: list[OrderLine]
    coupons: tuple[str, ...] = ()
    contract: str = ""
    approvals: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    exposure: Decimal = Decimal(0)
    raw: dict[str, Any] = field(default_factory=dict)
    # the invoice date (evaluate's `as_of`): payment terms and the journal's invoice entry run
    # from it; prices, discounts and tax follow the order's own date
    invoice_date: dt.date | None = None
    # `raw` in canonical JSON, once worked out (engine.invoice.order_text): a replay hashes
    # one parsed order for two revisions
    raw_text: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def invoiced(self) -> dt.date:
        """The invoice date: `as_of` when given, else the order date."""
        return self.invoice_date or self.date


TraceEntry = dict[str, Any]
"""Why an amount is what it is, as the invoice's `trace` array holds it: `path` (where in the
invoice, e.g. "lines[0].amount"), `rule` (rule id (metadata.name); "order" for values taken
from the order, DERIVED for amounts computed from other amounts of the document, DEFAULT for
the engine's defaults), `where` ("file:line" of the rule; for "order", the order field),
`amount` (the amount as the document writes it, or None) and `inputs` (what it was made of,
as strings)."""


def trace_entry(path: str, rule: str, where: str, amount: Decimal | None = None,
                inputs: dict[str, Any] | None = None, text: str | None = None) -> TraceEntry:
    """A trace entry; `text` is the amount as the document writes it. Without `text` the
    Decimal `amount` stays until `engine.invoice.trace_document` formats it."""
    return {"path": path, "rule": rule, "where": where,
            "amount": amount if text is None else text,
            "inputs": {} if inputs is None else inputs}


@dataclass
class Discount:
    rule: str
    amount: Decimal  # positive number subtracted
    scope: str = "line"  # line | order (order-level share allocated to this line)
    coupon: str = ""


@dataclass
class TaxCharge:
    rule: str
    tax: str  # vat | gst | sales_tax
    jurisdiction: str  # e.g. "GB", "US-CA", "DE"
    rate: Decimal  # percent
    taxable: Decimal
    amount: Decimal
    inclusive: bool = False
    reverse_charge: bool = False
    exemption: str = ""  # reason code when exempt or not taxed
    reason: str = ""  # the exemption's or reverse charge's statement, as the rule declares it


_ZERO = Decimal(0)


@dataclass
class PricedLine:
    order_line: OrderLine
    product: dict[str, Any]
    product_type: str
    price_rule: str  # PriceBook name that priced it
    model: str
    unit_amount: Decimal | None
    amount: Decimal  # before discounts (for inclusive tax: as listed, tax included)
    discounts: list[Discount] = field(default_factory=list)
    taxes: list[TaxCharge] = field(default_factory=list)
    recognition: str = "point_in_time"
    recognition_rule: str = ""
    # tax contained in `amount` when prices include tax (set by the tax stage)
    included_tax: Decimal = Decimal(0)
    # of a tax-inclusive line's discounts, the tax they contain (set by the tax stage):
    # `discount_total - discount_included_tax` is the discount exclusive of tax and
    # `amount - included_tax - discount_included_tax` the amount exclusive of tax
    discount_included_tax: Decimal = Decimal(0)
    price_where: str = ""  # file:line of the price entry (or product) that priced it

    @property
    def discount_total(self) -> Decimal:
        # read for every line by several stages: most lines have no discount or one
        discounts = self.discounts
        if not discounts:
            return _ZERO
        total = discounts[0].amount
        for d in discounts[1:]:
            total += d.amount
        return total

    @property
    def net(self) -> Decimal:
        """Amount after discounts, always exclusive of tax."""
        return self.amount - self.discount_total - self.included_tax

    @property
    def tax_total(self) -> Decimal:
        total = _ZERO
        for t in self.taxes:
            if not t.reverse_charge:
                total += t.amount
        return total


@dataclass
class Violation:
    rule: str
    severity: str  # error | warning
    code: str
    message: str
    where: str = ""
