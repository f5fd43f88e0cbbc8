"""Per-order differences between the base and head outcomes, and which rules caused them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.facts import LINE_FIELDS, TOTALS

ZERO = Decimal(0)


def dec(value: Any) -> Decimal:
    """Decimal of an amount string; absent amounts count as zero."""
    return Decimal(value) if value not in (None, "") else ZERO


def _money(base: Any, head: Any) -> list[str] | None:
    """`[base, head, delta]` when two amounts differ, else None."""
    if base == head:
        return None
    return [base or "", head or "", f"{dec(head) - dec(base):f}"]


def _errors(facts: dict[str, Any]) -> bool:
    return any(v[0] == "error" for v in facts.get("violations", []))


def outcome_kind(base: dict[str, Any], head: dict[str, Any]) -> str:
    """`newly_failing`, `newly_passing`, `error_changed` or '' (same outcome)."""
    b_err, h_err = "error" in base, "error" in head
    b_block, h_block = b_err or _errors(base), h_err or _errors(head)
    if b_block != h_block:
        return "newly_failing" if h_block else "newly_passing"
    if b_err and h_err and base["error"] != head["error"]:
        return "error_changed"
    return ""


def diff_order(order: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
               changed_rules: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """What changed for one order, or None when nothing did.

    `changed_rules` (the documents that differ between the revisions) narrows the cause to
    the rules that actually changed when the trace names several.
    """
    if base == head:
        return None
    sign = -1 if (order.get("attributes") or {}).get("document") == "credit_note" else 1
    out: dict[str, Any] = {
        "order": order.get("id", ""),
        "date": order.get("date", ""),
        "currency": head.get("currency") or base.get("currency") or order.get("currency", ""),
        "customer": (order.get("customer") or {}).get("id", ""),
        "sign": sign,
        "outcome": outcome_kind(base, head),
        "base_error": base.get("error", ""),
        "head_error": head.get("error", ""),
    }
    causes: set[str] = set()
    if "error" in base or "error" in head:
        side = head if "error" in base else base
        total = side.get("totals", {}).get("total") if "error" not in side else None
        out["totals"] = {"total": [
            "" if "error" in base else (total or ""), "" if "error" in head else (total or ""),
            f"{(dec(total) if 'error' in base else -dec(total)):f}" if total else "0"]}
        out["magnitude"] = abs(dec(total)) if total else ZERO
        out["rules"] = sorted(changed_rules)[:10]
        return out
    totals = {k: d for k in TOTALS if (d := _money(base["totals"][k], head["totals"][k]))}
    out["totals"] = totals
    out["magnitude"] = abs(dec(totals["total"][2])) if "total" in totals else ZERO
    lines = []
    b_lines, h_lines = base["lines"], head["lines"]
    for i in range(max(len(b_lines), len(h_lines))):
        bl = b_lines[i] if i < len(b_lines) else {}
        hl = h_lines[i] if i < len(h_lines) else {}
        if bl == hl:
            continue
        changes: dict[str, Any] = {}
        for f in LINE_FIELDS:
            if (d := _money(bl.get(f), hl.get(f))) is not None:
                changes[f] = d
        for f in ("discounts", "tax", "recognition"):
            if bl.get(f) != hl.get(f):
                changes[f] = [bl.get(f), hl.get(f)]
        rules = _causes(base, head, f"lines[{i}]", changed_rules)
        moved = ({tuple(d) for d in bl.get("discounts", [])}
                 ^ {tuple(d) for d in hl.get("discounts", [])})
        moved |= {tuple(t) for t in bl.get("tax", [])} ^ {tuple(t) for t in hl.get("tax", [])}
        rules |= {str(d[0]) for d in moved if d and d[0]}
        causes |= rules
        lines.append({"index": i, "sku": hl.get("sku") or bl.get("sku", ""),
                      "changes": changes, "rules": sorted(rules)})
    out["lines"] = lines
    payment = {}
    for f in ("due_date", "installments", "hold"):
        if base.get(f) != head.get(f):
            payment[f] = [base.get(f), head.get(f)]
    if payment:
        out["payment"] = payment
        causes |= _causes(base, head, "payment", changed_rules)
    periods = sorted(set(base["recognition"]) | set(head["recognition"]))
    recognition = {}
    for p in periods:
        b = sum((dec(a) for a in base["recognition"].get(p, [])), ZERO)
        h = sum((dec(a) for a in head["recognition"].get(p, [])), ZERO)
        if b != h:
            recognition[p] = [f"{b:f}", f"{h:f}", f"{h - b:f}"]
    if recognition:
        out["recognition"] = recognition
    if base["violations"] != head["violations"]:
        b_v, h_v = set(map(tuple, base["violations"])), set(map(tuple, head["violations"]))
        out["violations"] = {"added": sorted(h_v - b_v), "removed": sorted(b_v - h_v)}
        causes |= {v[2] for v in (h_v ^ b_v) if v[2]}
    if not causes:
        causes = _causes(base, head, "", changed_rules)
    if changed_rules and causes & changed_rules:
        # consequences (e.g. payment terms recomputed from a new total) are not causes
        causes &= changed_rules
    out["rules"] = sorted(causes)
    return out


def _causes(base: dict[str, Any], head: dict[str, Any], key: str,
            changed_rules: frozenset[str]) -> set[str]:
    """Rules named by the trace under `key` (all keys when empty) on either side."""
    named: set[str] = set()
    for side in (base, head):
        for k, rules in side.get("rules", {}).items():
            if not key or k == key:
                named.update(rules)
    if changed_rules and named & changed_rules:
        return named & changed_rules
    return named - {"order"}
