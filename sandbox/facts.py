"""What a replay compares: the money and outcome facts of an invoice document.

Provenance (revision, digest, decision id) and trace locations differ between any two
revisions and say nothing about money, so they are left out; trace rule ids are kept per
invoice path to say which rule caused a change.
"""

from __future__ import annotations

import re
from typing import Any

TOTALS = ("subtotal", "discount", "net", "tax", "total")
LINE_FIELDS = ("unit_amount", "amount", "discount_total", "net", "tax_total", "total")
_LINE_PATH = re.compile(r"^lines\[(\d+)\]")


def facts_of(doc: dict[str, Any]) -> dict[str, Any]:
    """Reduce an invoice document to comparable facts (strings for amounts, as given)."""
    lines = []
    for line in doc.get("lines", []):
        lines.append({
            "sku": line.get("sku", ""),
            **{f: line.get(f) for f in LINE_FIELDS},
            "discounts": sorted((d.get("rule", ""), d.get("amount", "")) for d in
                                line.get("discounts", [])),
            "tax": sorted((t.get("rule", ""), t.get("jurisdiction", ""), t.get("rate", ""),
                           t.get("amount", ""), t.get("exemption", ""),
                           bool(t.get("reverse_charge"))) for t in line.get("tax", [])),
            "recognition": line.get("recognition", ""),
        })
    payment = doc.get("payment") or {}
    schedule: dict[str, list[str]] = {}
    for entry in (doc.get("recognition") or {}).get("schedule", []):
        schedule.setdefault(entry.get("period", ""), []).append(entry.get("amount", "0"))
    rules: dict[str, list[str]] = {}
    for entry in doc.get("trace", []):
        path, rule = entry.get("path", ""), entry.get("rule", "")
        match = _LINE_PATH.match(path)
        key = f"lines[{match.group(1)}]" if match else path.split(".")[0].split("[")[0]
        if rule and rule not in rules.setdefault(key, []):
            rules[key].append(rule)
    return {
        "currency": doc.get("currency", ""),
        "customer": (doc.get("customer") or {}).get("id", ""),
        "date": doc.get("date", ""),
        "totals": {k: (doc.get("totals") or {}).get(k) for k in TOTALS},
        "lines": lines,
        "due_date": payment.get("due_date"),
        "installments": [(i.get("due_date"), i.get("amount"))
                         for i in payment.get("installments", [])],
        "hold": payment.get("hold"),
        "recognition": {p: a for p, a in sorted(schedule.items())},
        "violations": sorted((v.get("severity", ""), v.get("code", ""), v.get("rule", ""))
                             for v in doc.get("violations", [])),
        "rules": {k: sorted(v) for k, v in rules.items()},
    }
