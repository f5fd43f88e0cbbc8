"""The invoice document (docs/invoice.md): assembly, canonical JSON and the decision id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

try:  # optional accelerator; the standard library writes the same bytes
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

from engine.bundle import Bundle
from engine.derived import Append, line_entries, summary_entries, totals_entries
from engine.model import Order, PricedLine, TraceEntry, Violation, trace_entry
from engine.money import ZERO, exponent, formatter, zero_text
from engine.pricing.lines import description

SCHEMA = "billplane.invoice/v1"
ENGINE = "billplane/0.1.0"
TOTAL_KEYS = ("subtotal", "discount", "net", "tax", "total")


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8, Decimals as strings."""
    if orjson is not None:
        try:
            # byte-identical to the json form below for documents and orders (strings, ints,
            # bools, null); ~10x faster. What it refuses (non-string keys, ints beyond 64 bits,
            # lone surrogates) falls through to the reference form.
            return orjson.dumps(value, default=_plain, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return canonical_reference(value)


def canonical_reference(value: Any) -> bytes:
    """The canonical form as the standard library writes it (the definition `canonical` meets)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def decision_id(revision: str, bundle_digest: str, order_raw: Any, as_of: str,
                text: bytes | None = None) -> str:
    """sha256 over the policy revision, the bundle digest, the canonical order (`text`, when
    already worked out) and `as_of` (the digest tells apart policy trees loaded without a
    revision)."""
    digest = hashlib.sha256()
    digest.update(revision.encode("utf-8"))
    digest.update(b"\n")
    digest.update(bundle_digest.encode("utf-8"))
    digest.update(b"\n")
    digest.update(canonical(order_raw) if text is None else text)
    digest.update(b"\n")
    digest.update(as_of.encode("utf-8"))
    return digest.hexdigest()


def order_text(order: Order) -> bytes:
    """The order as given (`raw`) in canonical JSON, worked out once per parsed order."""
    text = order.raw_text
    if text is None:
        text = order.raw_text = canonical(order.raw)
    return text


def totals_of(lines: list[PricedLine]) -> dict[str, Decimal]:
    """Invoice totals as sums of line fields, subtotal and discount exclusive of tax (so
    net = subtotal - discount on one basis, also for prices that include tax)."""
    subtotal = discount = tax = ZERO
    for line in lines:
        subtotal += line.amount - line.included_tax - line.discount_included_tax
        discount += line.discount_total - line.discount_included_tax
        tax += line.tax_total
    net = subtotal - discount
    return {"subtotal": subtotal, "discount": discount, "net": net, "tax": tax,
            "total": net + tax}


_UNIT_STEP: dict[int, Decimal] = {}


def unit_text(value: Decimal | None, digits: int) -> str | None:
    """A unit amount with at least the currency's minor digits, never rounded."""
    if value is None:
        return None
    # the fractional digits of the plain text are max(0, -exponent): reading them off the
    # text we write anyway is cheaper than `as_tuple()` (which builds a tuple of all digits)
    text = f"{value:f}"
    point = text.find(".")
    if (len(text) - point - 1 if point >= 0 else 0) < digits:
        step = _UNIT_STEP.get(digits)
        if step is None:
            step = _UNIT_STEP[digits] = Decimal(1).scaleb(-digits)
        text = f"{value.quantize(step):f}"
    return text


def line_document(line: PricedLine, currency: str, digits: int,
                  append: Append | None = None, position: int = 0) -> dict[str, Any]:
    """One entry of `lines` in the invoice document; with `append`, the trace entries of its
    derived amounts (`position` is its place in `lines`)."""
    fmt = formatter(currency)
    ol = line.order_line
    amount = line.amount
    amount_text = fmt(amount)
    # Equal amounts have equal text (formatting depends on the value only), and most of a
    # line's derived amounts equal one already formatted (no discount: discount_total is
    # zero and net is the amount; one charge: tax_total is its amount; taxable is the net):
    # those reuse the text instead of formatting it again.
    discount_total = ZERO
    discounts = []
    for d in line.discounts:
        discount_total += d.amount
        discounts.append({"rule": d.rule, "scope": d.scope, "amount": fmt(d.amount),
                          "coupon": d.coupon})
    discount_total_text = fmt(discount_total) if discounts else zero_text(currency)
    net = amount - discount_total - line.included_tax
    net_text = amount_text if net == amount else fmt(net)
    in_discount = line.discount_included_tax
    discount = discount_total - in_discount
    discount_text = discount_total_text if not in_discount else fmt(discount)
    subtotal = net + discount
    subtotal_text = amount_text if subtotal == amount else fmt(subtotal)
    tax_total = ZERO
    tax_total_text = ""  # the text of the charged amount, when there is exactly one
    charged = 0
    taxes = []
    for t in line.taxes:
        tax_text = fmt(t.amount)
        if not t.reverse_charge:
            tax_total += t.amount
            charged += 1
            tax_total_text = tax_text
        taxes.append({"rule": t.rule, "tax": t.tax, "jurisdiction": t.jurisdiction,
                      "rate": f"{t.rate:f}",
                      "taxable": net_text if t.taxable == net else fmt(t.taxable),
                      "amount": tax_text,
                      "inclusive": t.inclusive, "reverse_charge": t.reverse_charge,
                      "exemption": t.exemption})
    if charged != 1:
        tax_total_text = fmt(tax_total)
    period = ol.period
    doc = {
        "index": ol.index,
        "sku": ol.sku,
        "description": description(line),
        "product_type": line.product_type,
        "quantity": f"{ol.quantity:f}",
        "model": line.model,
        "unit_amount": unit_text(line.unit_amount, digits),
        "amount": amount_text,
        "discounts": discounts,
        "discount_total": discount_total_text,
        "subtotal": subtotal_text,
        "discount": discount_text,
        "net": net_text,
        "tax": taxes,
        "tax_total": tax_total_text,
        "total": fmt(net + tax_total),
        "period": ({"start": period.start.isoformat(), "end": period.end.isoformat()}
                   if period else None),
        "recognition": line.recognition,
    }
    if append is not None:
        line_entries(position, doc, (discount_total, discount, subtotal, net, tax_total,
                                     net + tax_total), fmt(in_discount) if in_discount else "",
                     append)
    return doc


def _unit_amount_entries(bundle: Bundle, lines: list[PricedLine], docs: list[dict[str, Any]],
                         trace: list[TraceEntry]) -> None:
    """A trace entry for each unit amount: the price it came from (pricing traces `amount`)."""
    for position, (line, doc) in enumerate(zip(lines, docs, strict=True)):
        if line.unit_amount is None:
            continue
        path = f"lines[{position}].unit_amount"
        ol = line.order_line
        if ol.unit_price is not None:
            entry = trace_entry(path, "order", f"order.lines[{ol.index}].unit_price",
                               line.unit_amount, {}, doc["unit_amount"])
        else:
            entry = trace_entry(path, line.price_rule, line.price_where, line.unit_amount,
                                {"sku": ol.sku, "model": line.model}, doc["unit_amount"])
        trace.append(entry)


def trace_document(trace: list[TraceEntry], currency: str) -> list[TraceEntry]:
    """The `trace` array: the entries themselves, each amount as a currency string.

    Entries are made in their document form (`engine.model.trace_entry`); only amounts given
    as Decimals are formatted here. Inputs are strings already (the trace_entry contract);
    `canonical()` still writes any stray Decimal or date as a string.
    """
    fmt = formatter(currency)
    for entry in trace:
        amount = entry["amount"]
        if amount.__class__ is Decimal:
            entry["amount"] = fmt(amount)
    return trace


def violation_document(v: Violation) -> dict[str, Any]:
    """One entry of `violations` (the rule id locates it; file:line moves with every edit)."""
    return {"rule": v.rule, "severity": v.severity, "code": v.code, "message": v.message}


@dataclass
class Invoice:
    """An evaluated invoice: the document plus the structures it was built from."""

    document: dict[str, Any]
    violations: list[Violation]
    trace: list[TraceEntry]
    order: Order | None = None
    lines: list[PricedLine] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)
    _json: bytes | None = field(default=None, repr=False)

    @property
    def blocked(self) -> bool:
        """True when an `error` violation forbids issuing this invoice."""
        return any(v.severity == "error" for v in self.violations)

    def canonical_json(self) -> bytes:
        """The document as canonical JSON (byte-identical for the same order and revision)."""
        if self._json is None:
            self._json = canonical(self.document)
        return self._json


def build_document(
    bundle: Bundle,
    order: Order,
    lines: list[PricedLine],
    totals: dict[str, Decimal],
    *,
    as_of: str,
    payment: dict[str, Any] | None,
    recognition: dict[str, Any],
    series: str,
    violations: list[Violation],
    trace: list[TraceEntry] | None,
    tax_summary: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble the invoice document of docs/invoice.md; appends the trace entries of the
    derived amounts (line sums, tax summary, totals) before writing the trace. Without a
    trace (None) the document's `trace` is empty."""
    currency = order.currency
    digits = exponent(currency)
    customer = order.customer
    append = trace.append if trace is not None else None
    line_docs = [line_document(line, currency, digits, append, position)
                 for position, line in enumerate(lines)]
    money = formatter(currency)
    totals_doc = {k: money(totals[k]) for k in TOTAL_KEYS}
    if trace is not None and append is not None:
        _unit_amount_entries(bundle, lines, line_docs, trace)
        summary_entries(lines, line_docs, tax_summary, append)
        totals_entries(totals, totals_doc, line_docs, append)
    return {
        "schema": SCHEMA,
        "order_id": order.id,
        "date": order.date.isoformat(),
        "invoice_date": order.invoiced.isoformat(),
        "currency": currency,
        "seller": order.seller,
        # what identifies the customer for tax (its VAT number: Art. 226(4) of Directive
        # 2006/112/EC), never its name or address: the stored order holds those
        "customer": {"id": customer.get("id", ""), "country": customer.get("country", ""),
                     "region": customer.get("region", ""),
                     "type": customer.get("type", ""), "tax_id": customer.get("tax_id", "")},
        "series": series,
        "lines": line_docs,
        "tax_summary": tax_summary,
        "totals": totals_doc,
        "payment": payment,
        "recognition": recognition,
        "violations": [violation_document(v) for v in violations],
        "provenance": {"revision": bundle.revision, "digest": bundle.digest,
                       "decision_id": decision_id(bundle.revision, bundle.digest, order.raw,
                                                  as_of, order_text(order)),
                       "as_of": as_of, "engine": ENGINE},
        "trace": trace_document(trace, currency) if trace is not None else [],
    }
