"""Trace entries of derived amounts: line sums, the tax summary and the invoice totals.

A derived amount follows from other amounts of the document, so its entry has the rule
`derived`, no file:line, and inputs `{"formula": ..., <document path>: <amount>, ...}`. The
formula is either `sum of <what>` (the amount is the sum of every listed amount) or listed
inputs joined by ` + ` and ` - ` (docs/invoice.md); an input that is not a document path is a
named amount of the stage that produced it (`discount_included_tax`). Entries are built from
the strings the document already holds, so nothing is formatted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from engine.model import DERIVED, PricedLine, TraceEntry, trace_entry

Append = Callable[[TraceEntry], None]


def _sum(path: str, what: str, amount: Decimal, text: str, operands: dict[str, str]
         ) -> TraceEntry:
    return trace_entry(path, DERIVED, "", amount, {"formula": f"sum of {what}", **operands}, text)


@lru_cache(maxsize=4096)
def _line_paths(position: int) -> tuple[str, ...]:
    """The paths and formulas of one line's derived entries (the same for every invoice)."""
    p = f"lines[{position}]"
    return (f"{p}.discount_total", f"{p}.discount", f"{p}.subtotal", f"{p}.net",
            f"{p}.tax_total", f"{p}.total", f"{p}.amount", f"sum of {p}.discounts[].amount",
            f"{p}.amount - {p}.discount_total", f"{p}.net + {p}.discount",
            f"sum of {p}.tax[].amount, reverse charge excluded", f"{p}.net + {p}.tax_total")


@lru_cache(maxsize=16384)
def _item_path(position: int, name: str, k: int) -> str:
    return f"lines[{position}].{name}[{k}].amount"


def line_entries(position: int, doc: dict[str, Any], amounts: tuple[Decimal, ...],
                 in_discount: str, append: Append) -> None:
    """`discount_total`, `discount`, `subtotal`, `net`, `tax_total` and `total` of one document
    line; `in_discount` is the tax the discounts contain ('' when none)."""
    discount_total, discount, subtotal, net, tax_total, total = amounts
    (discount_path, ex_discount_path, subtotal_path, net_path, tax_path, total_path,
     amount_path, discounts_formula, net_formula, subtotal_formula, tax_formula,
     total_formula) = _line_paths(position)
    operands = {_item_path(position, "discounts", k): d["amount"]
                for k, d in enumerate(doc["discounts"])}
    append(trace_entry(discount_path, DERIVED, "", discount_total,
                      {"formula": discounts_formula, **operands}, doc["discount_total"]))
    # tax included in the price is not part of the net; reverse-charged tax is not charged
    net_inputs = {"formula": net_formula, amount_path: doc["amount"],
                  discount_path: doc["discount_total"]}
    charged = {"formula": tax_formula}
    for k, t in enumerate(doc["tax"]):
        path = _item_path(position, "tax", k)
        if t["inclusive"]:
            net_inputs[path] = t["amount"]
            net_inputs["formula"] += f" - {path}"
        if not t["reverse_charge"]:
            charged[path] = t["amount"]
    append(trace_entry(net_path, DERIVED, "", net, net_inputs, doc["net"]))
    # the discount exclusive of tax: a discount of a price that includes tax contains tax,
    # which the tax stage works out (`discount_included_tax`)
    ex_discount = ({"formula": f"{discount_path} - discount_included_tax",
                    discount_path: doc["discount_total"], "discount_included_tax": in_discount}
                   if in_discount else
                   {"formula": discount_path, discount_path: doc["discount_total"]})
    append(trace_entry(ex_discount_path, DERIVED, "", discount, ex_discount, doc["discount"]))
    append(trace_entry(subtotal_path, DERIVED, "", subtotal,
                      {"formula": subtotal_formula, net_path: doc["net"],
                       ex_discount_path: doc["discount"]}, doc["subtotal"]))
    append(trace_entry(tax_path, DERIVED, "", tax_total, charged, doc["tax_total"]))
    append(trace_entry(total_path, DERIVED, "", total,
                      {"formula": total_formula, net_path: doc["net"],
                       tax_path: doc["tax_total"]}, doc["total"]))


def summary_entries(lines: list[PricedLine], line_docs: list[dict[str, Any]],
                    summary: list[dict[str, Any]], append: Append) -> None:
    """`taxable` and `amount` of each tax summary row: sums of the line charges it groups."""
    if not summary:
        return
    # the summary's grouping (engine.tax.tax_summary), read back from the row's own fields
    groups: dict[tuple[str, str, str, bool, str], list[tuple[int, int]]] = {}
    for position, line in enumerate(lines):
        for k, c in enumerate(line.taxes):
            key = (c.rule, c.jurisdiction, str(c.rate), c.reverse_charge, c.exemption)
            groups.setdefault(key, []).append((position, k))
    for r, row in enumerate(summary):
        found = groups.get((row["rule"], row["jurisdiction"], row["rate"], row["reverse_charge"],
                            row.get("exemption", "")), [])
        group = f"of rule {row['rule']}, {row['jurisdiction']} at {row['rate']}%"
        for field in ("taxable", "amount"):
            append(_sum(f"tax_summary[{r}].{field}", f"lines[].tax[].{field} {group}",
                        Decimal(row[field]), row[field],
                        {f"lines[{p}].tax[{k}].{field}": line_docs[p]["tax"][k][field]
                         for p, k in found}))


_LINE_FIELD = {"subtotal": "subtotal", "discount": "discount", "net": "net", "tax": "tax_total",
               "total": "total"}


def totals_entries(totals: dict[str, Decimal], texts: dict[str, str],
                   line_docs: list[dict[str, Any]], append: Append) -> None:
    """Each of `totals`: the sum of the corresponding line field."""
    count = len(line_docs)
    for key, field in _LINE_FIELD.items():
        append(_sum(f"totals.{key}", f"lines[].{field}", totals[key], texts[key],
                    dict(zip(_field_paths(count, field), [line[field] for line in line_docs],
                             strict=True))))


@lru_cache(maxsize=256)
def _field_paths(count: int, field: str) -> tuple[str, ...]:
    """`lines[0].<field>` .. `lines[count - 1].<field>`."""
    return tuple(f"lines[{position}].{field}" for position in range(count))
