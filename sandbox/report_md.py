"""The Markdown report for a pull-request comment: summary first, under GitHub's limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

COMMENT_LIMIT = 65536
ROW_STEPS = (25, 10, 5, 2, 0)


def _short(rev: Any) -> str:
    return str(rev or "")[:12] or "(working tree)"


def _signed(v: str) -> str:
    if v in ("", "n/a"):
        return v
    d = Decimal(v)
    return f"+{v}" if d > 0 else v


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[Any]], limit: int, total: int | None = None) -> str:
    total = len(rows) if total is None else total
    if not rows:
        return "_none_\n"
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows[:limit]]
    shown = min(limit, len(rows))
    if shown < total:
        out.append(f"\n_Showing {shown} of {total} rows; the JSON and HTML reports have "
                   "the rest._")
    return "\n".join(out) + "\n"


def render(report: dict[str, Any], extra: str = "", limit: int = COMMENT_LIMIT) -> str:
    """Markdown text at most `limit` characters; `extra` (e.g. approvals) goes after the summary."""
    for rows in ROW_STEPS:
        text = _render(report, extra, rows)
        if len(text) <= limit:
            return text
    note = "\n\n_Report truncated to fit the comment limit._\n"
    return text[: limit - len(note)] + note


def _render(r: dict[str, Any], extra: str, rows: int) -> str:
    c = r["counts"]
    parts = [f"## Policy replay: `{_short(r['base'].get('revision'))}` → "
             f"`{_short(r['head'].get('revision'))}`\n"]
    summary = (f"**{c['changed']}** of {c['evaluated']} replayed orders change "
               f"({c['read']} read from `{r['source']}`, {c['skipped']} skipped by impact "
               f"pruning, {c['issues']} bad records).")
    if c["newly_failing"] or c["newly_passing"]:
        summary += (f" **{c['newly_failing']} newly failing**, {c['newly_passing']} newly "
                    "passing.")
    parts.append(summary + "\n")
    money = [[t["currency"], t["base"]["total"], t["head"]["total"],
              _signed(t["delta"]["total"]), _signed(t["change_percent"]) + "%"
              if t["change_percent"] not in ("", "n/a") else t["change_percent"],
              _signed(t["delta"]["tax"]), _signed(t["delta"]["discount"])]
             for t in r["totals"]]
    parts.append(_table(["Currency", "Base total", "Head total", "Change", "Change %",
                         "Tax change", "Discount change"], money, 50))
    if r["pruning"]["enabled"] and c["skipped"]:
        parts.append("_Totals cover the replayed orders; skipped orders cannot change, so "
                     "percentages are relative to the replayed part of the history._\n")
    if extra:
        parts.append(extra.rstrip() + "\n")
    issued = r.get("issued_tax_change") or {}
    if issued:
        parts.append("**Tax change on already-issued invoices:** " + ", ".join(
            f"{cur} {amt}" for cur, amt in issued.items()) + "\n")
    largest = [[d["order"], d["date"], d["customer"], d["outcome"] or "amounts",
                _signed(d.get("totals", {}).get("total", ["", "", "0"])[2]),
                _signed(d.get("totals", {}).get("tax", ["", "", "0"])[2]),
                ", ".join(d.get("rules", [])[:5])] for d in r["largest"]]
    parts.append("### Largest changes\n")
    parts.append(_table(["Order", "Date", "Customer", "What", "Total change", "Tax change",
                         "Caused by"], largest, rows, max(len(largest), c["changed"])))
    v = r["validations"]
    if v["newly_failing"] or v["newly_passing"]:
        parts.append("### Validations\n")
        vrows = [[code, n, ""] for code, n in v["newly_failing"].items()]
        vrows += [[code, "", n] for code, n in v["newly_passing"].items()]
        parts.append(_table(["Code", "Newly failing", "Newly passing"], vrows, rows or 1))
    for title, key in (("Tax change by jurisdiction", "by_jurisdiction"),
                       ("Net change by product", "by_product"),
                       ("Total change by customer", "by_customer")):
        b = r[key]
        parts.append(f"### {title}\n")
        parts.append(_table(["Currency", key.split("_", 1)[1].capitalize(), "Change"],
                            [[x["currency"], x["key"], _signed(x["delta"])] for x in b["rows"]],
                            rows, len(b["rows"]) + b["more"]))
    periods = [[p["currency"], p["period"], _signed(p["total"]), _signed(p["tax"]),
                _signed(p["revenue"])] for p in r["by_period"]]
    parts.append("### By period\n")
    parts.append(_table(["Currency", "Period", "Total change", "Tax change",
                         "Recognised revenue change"], periods, max(rows, 12 if rows else 0)))
    if r["rules"]:
        parts.append("### Rules behind the changes\n")
        parts.append(_table(["Rule", "Changed orders"], [[k, n] for k, n in
                                                          r["rules"].items()], rows or 5))
    parts.append(f"<sub>Pruning: {_cell(r['pruning']['description'])}. "
                 f"{r['timing']['orders_per_second']} orders/s, {r['timing']['seconds']} s."
                 "</sub>\n")
    return "\n".join(parts)
