"""Per-order differences between the base and head outcomes, and which rules caused them.

An outcome is `{"doc": comparable document, "trace": [...]}` or, when the order does not
evaluate, `{"error": code, "message": ..., "rule": ...}`. Document amounts are as the documents
state them (a credit note's amounts are positive); `total_change` and `tax_change` are the
signed effect on the books (a credit note counts negatively).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.facts import (
    DERIVED_RULES,
    TOTALS,
    Change,
    changed_leaves,
    generic,
    rules_by_section,
    section,
)

ZERO = Decimal(0)


def dec(value: Any) -> Decimal:
    """Decimal of an amount string; absent amounts count as zero."""
    return Decimal(value) if value not in (None, "") else ZERO


def s(value: Decimal) -> str:
    """A Decimal as a plain decimal string (no exponent, no negative zero)."""
    return f"{(value if value else abs(value)):f}"


def sign_of(order: dict[str, Any]) -> int:
    """-1 for a credit note (its amounts reduce revenue and tax), else 1."""
    attributes = order.get("attributes")
    return -1 if isinstance(attributes, dict) and attributes.get(
        "document") == "credit_note" else 1


def blocked(doc: dict[str, Any]) -> bool:
    """True when an error-severity violation blocks issuing the invoice."""
    return any(v.get("severity") == "error" for v in doc.get("violations", ()))


def outcome_kind(base: dict[str, Any], head: dict[str, Any]) -> str:
    """How the outcome changed: '' (same kind), `no_longer_evaluates`, `now_evaluates`,
    `error_changed`, `newly_failing` or `newly_passing` (validations, both evaluate)."""
    b_err, h_err = "error" in base, "error" in head
    if b_err or h_err:
        if b_err and h_err:
            return "error_changed" if base["error"] != head["error"] else ""
        return "no_longer_evaluates" if h_err else "now_evaluates"
    b_block, h_block = blocked(base["doc"]), blocked(head["doc"])
    if b_block != h_block:
        return "newly_failing" if h_block else "newly_passing"
    return ""


def _head(order: dict[str, Any], sign: int, record: int, as_of: str | None) -> dict[str, Any]:
    customer = order.get("customer")
    date = str(order.get("date", ""))
    return {
        "order": str(order.get("id", "")),
        "record": record,
        "date": date,  # prices, discounts and tax follow it
        "invoice_date": as_of or date,  # the document's own date: the month it counts in
        "currency": str(order.get("currency", "")),
        "customer": str(customer.get("id", "")) if isinstance(customer, dict) else "",
        "document": "credit_note" if sign < 0 else "invoice",
        "sign": sign,
    }


def diff_order(order: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
               changed_rules: frozenset[str] = frozenset(), record: int = 0,
               as_of: str | None = None) -> dict[str, Any] | None:
    """What changed for one order (evaluated as of the invoice date `as_of`, None for its
    own date), or None when nothing did.

    `changed_rules` (the documents that differ between the revisions) narrows the cause to
    the rules that actually changed when the trace names several.
    """
    if "error" in base or "error" in head:
        if "error" in base and "error" in head and base["error"] == head["error"]:
            return None
        return _error_diff(order, base, head, changed_rules, record, as_of)
    b_doc, h_doc = base["doc"], head["doc"]
    if b_doc is h_doc or b_doc == h_doc:
        return None
    changes = changed_leaves(b_doc, h_doc)
    if not changes:  # numbers written differently only
        return None
    sign = sign_of(order)
    out = _head(order, sign, record, as_of)
    out["currency"] = str(h_doc.get("currency") or out["currency"])
    out["outcome"] = outcome_kind(base, head)
    b_tot, h_tot = b_doc.get("totals") or {}, h_doc.get("totals") or {}
    out["base_total"], out["head_total"] = b_tot.get("total", ""), h_tot.get("total", "")
    total = sign * (dec(h_tot.get("total")) - dec(b_tot.get("total")))
    out["total_change"] = s(total)
    out["tax_change"] = s(sign * (dec(h_tot.get("tax")) - dec(b_tot.get("tax"))))
    out["totals"] = {k: changes[f"totals.{k}"] for k in TOTALS if f"totals.{k}" in changes}
    rules = (rules_by_section(base.get("trace", [])), rules_by_section(head.get("trace", [])))
    lines: dict[int, dict[str, Any]] = {}
    fields: dict[str, Change] = {}
    causes: set[str] = set()
    for path, change in changes.items():
        part = section(path)
        if part.startswith("lines["):
            index = int(part[6:-1])
            line = lines.setdefault(index, {"index": index, "sku": _sku(b_doc, h_doc, index),
                                            "changes": {}, "rules": set()})
            line["changes"][path[len(part) + 1:]] = change
            line["rules"] |= _named(rules, part, path, change)
        elif part != "totals":
            fields[path] = change
            causes |= _named(rules, part, path, change)
    for line in lines.values():
        line["rules"] = sorted(_narrow(line["rules"], changed_rules))
        causes |= set(line["rules"])
    out["lines"] = [lines[i] for i in sorted(lines)]
    out["fields"] = fields
    out["changed"] = sorted({generic(p) for p in changes})
    out["recognition"] = _periods(b_doc, h_doc)
    b_v = {_violation(v) for v in b_doc.get("violations", ())}
    h_v = {_violation(v) for v in h_doc.get("violations", ())}
    if b_v != h_v:
        out["violations"] = {"added": [list(v) for v in sorted(h_v - b_v)],
                             "removed": [list(v) for v in sorted(b_v - h_v)]}
        causes |= {v[2] for v in h_v ^ b_v if v[2]}
    out["rules"] = sorted(_narrow(causes, changed_rules))
    others = [abs(dec(c[2])) for c in changes.values() if c[2] and not c[2].endswith("days")]
    out["magnitude"] = abs(total)
    out["spread"] = max(others, default=ZERO)
    return out


def _error_diff(order: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
                changed_rules: frozenset[str], record: int, as_of: str | None
                ) -> dict[str, Any]:
    """An order that evaluates under one revision only, or fails differently."""
    sign = sign_of(order)
    out = _head(order, sign, record, as_of)
    out["outcome"] = outcome_kind(base, head)
    for side, name in ((base, "base"), (head, "head")):
        if "error" in side:
            out[f"{name}_error"] = side["error"]
            out[f"{name}_message"] = side.get("message", "")
            out[f"{name}_total"] = ""
        else:
            doc = side["doc"]
            out["currency"] = str(doc.get("currency") or out["currency"])
            out[f"{name}_total"] = (doc.get("totals") or {}).get("total", "")
    # not a money change: the order cannot be invoiced under one revision (see aggregate)
    out["total_change"] = out["tax_change"] = ""
    named = {str(side["rule"]) for side in (base, head) if side.get("rule")}
    out["rules"] = sorted(named or changed_rules)[:10]
    out["changed"] = ["evaluation"]
    out["magnitude"] = abs(dec(out["base_total"] or out["head_total"]))
    out["spread"] = ZERO
    return out


def _named(rules: tuple[dict[str, set[str]], dict[str, set[str]]], part: str, path: str,
           change: Change) -> set[str]:
    """Rules the trace names for a document section, plus a rule id that itself changed."""
    named = rules[0].get(part, set()) | rules[1].get(part, set())
    if path.endswith(".rule"):
        named |= {str(v) for v in change[:2] if v}
    return named


def _narrow(causes: set[str], changed_rules: frozenset[str]) -> set[str]:
    """The causes among the changed documents; when the trace names none of them, the changed
    documents themselves (e.g. an invoice series, which leaves no trace entry)."""
    if changed_rules:
        hit = causes & changed_rules
        return hit if hit else set(changed_rules)
    return causes - DERIVED_RULES


def _sku(base: dict[str, Any], head: dict[str, Any], index: int) -> str:
    for doc in (head, base):
        lines = doc.get("lines") or []
        if index < len(lines):
            return str(lines[index].get("sku", ""))
    return ""


def _violation(v: dict[str, Any]) -> tuple[str, str, str]:
    return (str(v.get("severity", "")), str(v.get("code", "")), str(v.get("rule", "")))


def _periods(base: dict[str, Any], head: dict[str, Any]) -> dict[str, list[str]]:
    """Recognised revenue per period, `[base, head, difference]` where it differs."""
    sums: list[dict[str, Decimal]] = []
    for doc in (base, head):
        by: dict[str, Decimal] = {}
        for entry in (doc.get("recognition") or {}).get("schedule", ()):
            period = str(entry.get("period", ""))
            by[period] = by.get(period, ZERO) + dec(entry.get("amount"))
        sums.append(by)
    out = {}
    for p in sorted(set(sums[0]) | set(sums[1])):
        b, h = sums[0].get(p, ZERO), sums[1].get(p, ZERO)
        if b != h:
            out[p] = [s(b), s(h), s(h - b)]
    return out
