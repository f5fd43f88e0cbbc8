"""The replay report as plain JSON data; the Markdown and HTML reports render from it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sandbox.aggregate import Key
from sandbox.diff import ZERO
from sandbox.facts import TOTALS
from sandbox.replay import ReplayResult

SCHEMA = "billplane.replay/v1"
MAX_ROWS = 1000  # per breakdown in the JSON report; the rest is summed into one row


def s(value: Decimal) -> str:
    """A Decimal as a plain decimal string (no exponent, no negative zero)."""
    return f"{(value if value else abs(value)):f}"


def _percent(delta: Decimal, base: Decimal) -> str:
    if not base:
        return "" if not delta else "n/a"
    return s((delta * 100 / base).quantize(Decimal("0.01")))


def _breakdown(data: dict[Key, Decimal], limit: int = MAX_ROWS) -> dict[str, Any]:
    rows = sorted(data.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    out = [{"currency": c, "key": k, "delta": s(v)} for (c, k), v in rows[:limit]]
    rest = rows[limit:]
    return {"rows": out, "more": len(rest),
            "more_delta": {c: s(sum((v for (cc, _), v in rest if cc == c), ZERO))
                           for c in sorted({c for (c, _), _ in rest})}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return s(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def build(result: ReplayResult) -> dict[str, Any]:
    """Everything the reports show, JSON-ready (amounts as decimal strings)."""
    agg = result.aggregate
    totals = []
    for cur in sorted(agg.totals):
        sides = agg.totals[cur]
        base = sides.get("base", dict.fromkeys(TOTALS, ZERO))
        head = sides.get("head", dict.fromkeys(TOTALS, ZERO))
        delta = {k: head[k] - base[k] for k in TOTALS}
        totals.append({"currency": cur, "base": {k: s(v) for k, v in base.items()},
                       "head": {k: s(v) for k, v in head.items()},
                       "delta": {k: s(v) for k, v in delta.items()},
                       "change_percent": _percent(delta["total"], base["total"]),
                       "tax_change_percent": _percent(delta["tax"], base["tax"])})
    periods = sorted({k for d in (agg.total_by_period, agg.tax_by_period,
                                  agg.revenue_by_period) for k in d})
    by_period = [{"currency": c, "period": p,
                  "total": s(agg.total_by_period.get((c, p), ZERO)),
                  "tax": s(agg.tax_by_period.get((c, p), ZERO)),
                  "revenue": s(agg.revenue_by_period.get((c, p), ZERO))} for c, p in periods]
    counts = {k: agg.counts.get(k, 0) for k in (
        "read", "issues", "skipped", "evaluated", "changed", "newly_failing", "newly_passing",
        "error_changed", "errors_base", "errors_head", "errors_both")}
    counts["unchanged"] = counts["evaluated"] - counts["changed"]
    pred = result.predicate
    return {
        "schema": SCHEMA,
        "base": result.base,
        "head": result.head,
        "source": result.source,
        "counts": counts,
        "pruning": {"enabled": result.pruned,
                    "description": pred.describe(), "reasons": list(pred.reasons),
                    "changed_documents": list(pred.changed), "skipped": counts["skipped"]},
        "totals": totals,
        "by_customer": _breakdown(agg.by_customer),
        "by_product": _breakdown(agg.by_product),
        "by_jurisdiction": _breakdown(agg.by_jurisdiction),
        "by_period": by_period,
        "issued_tax_change": {c: s(v) for c, v in sorted(agg.issued_tax_change.items())},
        "validations": {"newly_failing": dict(sorted(agg.newly_failing.items())),
                        "newly_passing": dict(sorted(agg.newly_passing.items()))},
        "rules": dict(sorted(agg.rules.items(), key=lambda kv: (-kv[1], kv[0]))),
        "largest": _jsonable(agg.largest()),
        "issues": agg.issues,
        "timing": {"seconds": round(result.seconds, 3), "jobs": result.jobs,
                   "engine": result.engine,
                   "orders_per_second": round(counts["evaluated"] / result.seconds, 1)
                   if result.seconds else 0.0},
    }


def to_json(report: dict[str, Any]) -> str:
    """Stable, readable JSON text of a report."""
    return json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def metrics(report: dict[str, Any]) -> dict[str, Decimal]:
    """Impact metrics that Ownership thresholds name (largest over currencies)."""
    def most(values: list[str]) -> Decimal:
        nums = [abs(Decimal(v)) for v in values if v not in ("", "n/a")]
        return max(nums, default=ZERO)

    t = report["totals"]
    c = report["counts"]
    return {
        "total_change_percent": most([r["change_percent"] for r in t]),
        "tax_change_percent": most([r["tax_change_percent"] for r in t]),
        "total_change": most([r["delta"]["total"] for r in t]),
        "tax_change": most([r["delta"]["tax"] for r in t]),
        "tax_change_issued": most(list(report["issued_tax_change"].values())),
        "changed_orders": Decimal(c["changed"]),
        "newly_failing": Decimal(c["newly_failing"]),
        "changed_orders_percent": (Decimal(c["changed"]) * 100 / c["evaluated"]).quantize(
            Decimal("0.01")) if c["evaluated"] else ZERO,
    }
