"""The Markdown report for a pull-request comment: summary first, under GitHub's limit.

Sections come in order of importance. To fit the limit, tables first shrink to fewer rows
(and say so), then whole sections are left out from the end (and the report says which);
the summary, the money table and `extra` (the check's approvals) are never cut: when they
alone are too long, `extra` is condensed (the check gives shorter forms of it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sandbox import markdown as md
from sandbox.report import (
    ISSUED_SIZES,
    credit_note_links,
    document_date,
    largest_note,
    revision_name,
    revision_subject,
    what,
)

COMMENT_LIMIT = 65536  # GitHub's limit on the body of a comment, in characters
# kept free for what the tool posting the report adds to it: the sticky-comment action of the
# GitHub template appends `<!-- Sticky Pull Request Comment<header> -->`, the GitLab template
# puts its marker first
MARKER_ROOM = 256
REPORT_LIMIT = COMMENT_LIMIT - MARKER_ROOM
ROW_STEPS = (25, 10, 5, 2)


def _subjects(r: dict[str, Any]) -> str:
    named = [f"{s} {revision_subject(r[s])}: {md.text(_short(r[s]['subject']))}"
             for s in ("base", "head") if r[s].get("subject")]
    return f"_{'; '.join(named)}._\n" if named else ""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signed(v: str) -> str:
    if v in ("", "n/a"):
        return v
    return f"+{v}" if Decimal(v) > 0 else v


def _cell(v: Any) -> str:
    """A table cell: user text escaped, Markdown (a code span) as it is."""
    return v if isinstance(v, md.Markdown) else md.text(v)


def _table(head: list[str], rows: list[list[Any]], limit: int, total: int | None = None,
           kept: str = "") -> str:
    """A table of at most `limit` rows out of `total`; when rows are left out, a note says
    how many and what the JSON and HTML reports have (`kept`, default: every row)."""
    total = len(rows) if total is None else total
    if not rows:
        return "_none_\n"
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows[:limit]]
    shown = min(limit, len(rows))
    if shown < total:
        kept = kept or (f"all {total}" if len(rows) >= total else f"the first {len(rows)}")
        out.append(f"\n_Showing {shown} of {total} rows; the JSON and HTML reports have "
                   f"{kept}._")
    return "\n".join(out) + "\n"


def _kept(part: dict[str, Any]) -> str:
    """What the JSON and HTML reports have of a breakdown capped at its largest rows."""
    if not part["more"]:
        return ""
    return (f"the largest {len(part['rows'])}, and the other {part['more']} summed per "
            "currency")


def render(report: dict[str, Any], extra: str = "", limit: int = REPORT_LIMIT,
           shorter: Iterable[str] = ()) -> str:
    """Markdown text at most `limit` characters; `extra` (e.g. approvals) goes after the summary.

    When the essential part alone (summary, money and `extra`) does not fit, the forms of
    `extra` in `shorter`, each more condensed than the one before, are tried in turn (with as
    many later sections as still fit), so that what `extra` must say is condensed, never cut.
    """
    for form in itertools.chain([extra], shorter):
        for rows in ROW_STEPS:
            essential, optional = _sections(report, form, rows)
            text = _join(essential, optional)
            if len(text) <= limit:
                return text
        fitted = _fit(essential, optional, limit)
        if fitted is not None:
            return fitted
    # no shorter form fits (or none was given): cut at a line end, the last resort
    note = "\n\n_Report truncated to fit the comment limit._\n"
    text = _join(essential, [])
    cut = text.rfind("\n", 0, limit - len(note))
    return text[: max(cut, 0)] + note


def _fit(essential: list[str], optional: list[tuple[str, str]], limit: int) -> str | None:
    """The essential part with as many of the optional sections as fit (whole sections left
    out from the end, and named), or None when the essential part alone does not fit."""
    optional = list(optional)
    text = _join(essential, optional)
    if len(text) <= limit:
        return text
    while optional:
        dropped = optional.pop()[0]
        note = f"\n_Left out to fit the comment limit: {dropped} and later sections; the " \
               "JSON and HTML reports have them._\n"
        text = _join(essential, optional) + note
        if len(text) <= limit:
            return text
    return None


def _join(essential: list[str], optional: list[tuple[str, str]]) -> str:
    return "\n".join(essential + [body for _, body in optional])


def _summary(r: dict[str, Any]) -> str:
    c = r["counts"]
    credit = (f", {c['changed_credit_notes']} of them credit notes"
              if c["changed_credit_notes"] else "")
    # a pruned order cannot change: it is one of the orders, counted (and in the totals
    # when evaluated under base for them) like every other
    base_only = (", and evaluated under the base revision only, for the totals"
                 if c["evaluated_base_only"] else "")
    text = (f"**{c['changed']}** of {c['evaluated'] + c['skipped']} orders change{credit} "
            f"({c['evaluated']} replayed under both revisions; {c['skipped']} skipped by "
            f"impact pruning, since they cannot change{base_only}; {c['read']} read from "
            f"{md.code(r['source'])}, {c['issues']} bad records).")
    notes = [text for key, text in (
        ("no_longer_evaluates", f"**{c['no_longer_evaluates']} no longer evaluate** under head"),
        ("now_evaluates", f"{c['now_evaluates']} now evaluate"),
        ("error_changed", f"{c['error_changed']} fail differently"),
        ("newly_failing", f"**{c['newly_failing']} newly fail validation**"),
        ("newly_passing", f"{c['newly_passing']} newly pass validation"),
        ("errors_both", f"{c['errors_both']} fail under both revisions")) if c[key]]
    links = credit_note_links(r.get("credit_note_links") or {})
    return text + (" " + "; ".join(notes) + "." if notes else "") + (
        " " + links if links else "")


def _money(r: dict[str, Any]) -> str:
    rows = [[t["currency"], t["orders"], t["base"]["total"], t["head"]["total"],
             _signed(t["delta"]["total"]), _signed(t["change_percent"]) + "%"
             if t["change_percent"] not in ("", "n/a") else t["change_percent"],
             _signed(t["delta"]["tax"]), _signed(t["delta"]["discount"])]
            for t in r["totals"]]
    text = _table(["Currency", "Orders", "Base total", "Head total", "Change", "Change %",
                   "Tax change", "Discount change"], rows, 50) if rows else (
        "_No replayed order evaluates under both revisions: no money to compare._\n")
    if r["totals_cover"] == "replayed":
        skipped = ", ".join(f"{md.text(t['currency'])} {t['skipped']}" for t in r["totals"]
                            if t["skipped"])
        text += ("\n_Totals cover the replayed orders only; the skipped orders "
                 f"({skipped}) cannot change, so each change is exact and each percentage "
                 "is relative to the replayed part of the history (`--base-totals` gives "
                 "percentages of the whole history)._\n")
    if r["evaluation"]["no_longer_evaluate"]["orders"] or r["evaluation"]["now_evaluate"][
            "orders"]:
        text += ("\n_Orders that evaluate under one revision only are not in these totals; "
                 "see below._\n")
    return text


def _evaluation(r: dict[str, Any], rows: int) -> list[tuple[str, str]]:
    e = r["evaluation"]
    out = []
    for key, title, side in (("no_longer_evaluate", "Orders that no longer evaluate", "base"),
                             ("now_evaluate", "Orders that now evaluate", "head")):
        part = e[key]
        if not part["orders"]:
            continue
        money = ", ".join(
            f"{md.text(b['currency'])} {b[side + '_total']} ({b['orders']} orders)"
            for b in part["by_currency"])
        body = (f"### {title}\n\n{part['orders']} orders; their {side} totals: {money}.\n\n"
                + _table(["Error", "Orders"], [[x["code"], x["orders"]] for x in part["codes"]],
                         max(rows, 5)))
        out.append((title.lower(), body))
    if e["error_changed"]:
        out.append(("orders that fail differently", "### Orders that fail differently\n\n"
                    + _table(["Error (base → head)", "Orders"],
                             [[x["change"], x["orders"]] for x in e["error_changed"]], rows)))
    if e["errors_both"]:
        out.append(("orders that fail under both", "### Orders that fail under both "
                    "revisions\n\n" + _table(["Error", "Orders"], [
                        [x["code"], x["orders"]] for x in e["errors_both"]], max(rows, 5))))
    return out


def _sections(r: dict[str, Any], extra: str, rows: int) -> tuple[list[str],
                                                                 list[tuple[str, str]]]:
    c = r["counts"]
    essential = [f"## Policy replay: {revision_name(r['base'])} → "
                 f"{revision_name(r['head'])}\n"
                 + _subjects(r), _summary(r) + "\n", _money(r)]
    if extra:
        essential.append(extra.rstrip() + "\n")
    issued = r.get("issued_tax_change") or {}
    if r.get("issued_tax_unknown") and md.text(r["issued_tax_unknown"]) in extra:
        # the check's approvals, read first, said why (its threshold needs an approval)
        essential.append("**Tax change on already-issued invoices:** unknown (the "
                         "`tax_change_issued` threshold above says why).\n")
    elif r.get("issued_tax_unknown"):
        essential.append("**Tax change on already-issued invoices:** unknown: "
                         f"{md.text(r['issued_tax_unknown'])}.\n")
    elif issued:
        essential.append("**Tax change on already-issued invoices:** " + ", ".join(
            f"{md.text(cur)} {amt}" for cur, amt in issued.items()) + f" ({ISSUED_SIZES}).\n")
    optional = _evaluation(r, rows)
    if r["fields"]:
        optional.append(("what changed", "### What changed\n\n" + _table(
            ["Invoice field", "Orders"], [[md.code(x["field"], table=True), x["orders"]]
                                          for x in r["fields"]], rows)))
    largest = [[d["order"], document_date(d), d["customer"], what(d), _signed(d["total_change"]),
                _signed(d["tax_change"]), ", ".join(d.get("rules", [])[:5])]
               for d in r["largest"]]
    listing = r["largest_listing"]
    optional.append(("largest changes", "### Largest changes\n\n"
                     f"_{largest_note(r)} Changes are signed as they affect the books: a "
                     "larger refund on a credit note is a negative change._\n\n" + _table(
                         ["Order", "Invoice date", "Customer", "What", "Total change",
                          "Tax change", "Caused by"], largest, rows, len(largest),
                         f"all {len(largest)} listed (`--top {listing['top']}`)")))
    if r["validations"]:
        optional.append(("validations", "### Validations\n\n" + _table(
            ["Severity", "Code", "Newly raised (orders)", "No longer raised (orders)"],
            [[v["severity"], v["code"], v["raised"], v["cleared"]] for v in r["validations"]],
            rows)))
    for title, key in (("Change by tax jurisdiction", "by_jurisdiction"),
                       ("Change by product", "by_product")):
        b = r[key]
        optional.append((title.lower(), f"### {title}\n\n" + _table(
            ["Currency", "Jurisdiction" if key == "by_jurisdiction" else "Product",
             "Net change", "Tax change", "Total change"],
            [[x["currency"], x["key"], _signed(x["net"]), _signed(x["tax"]),
              _signed(x["total"])] for x in b["rows"]], rows, len(b["rows"]) + b["more"],
            _kept(b))))
    b = r["by_customer"]
    optional.append(("total change by customer", "### Total change by customer\n\n" + _table(
        ["Currency", "Customer", "Total change"],
        [[x["currency"], x["key"], _signed(x["total"])] for x in b["rows"]], rows,
        len(b["rows"]) + b["more"], _kept(b))))
    months = [[p["currency"], p["period"], _signed(p["net"]), _signed(p["tax"]),
               _signed(p["total"])] for p in r["by_month"]]
    optional.append(("change by invoice month", "### Change by invoice month\n\n"
                     "_By the month each invoice or credit note is issued in (a linked "
                     "credit note's own date, not its sale's)._\n\n" + _table(
                         ["Currency", "Invoice month", "Net change", "Tax change",
                          "Total change"], months, max(rows, 12))))
    revenue = [[p["currency"], p["period"], _signed(p["revenue"])]
               for p in r["revenue_by_period"]]
    optional.append(("recognised revenue by period", "### Recognised revenue by period\n\n"
                     "_By the period the revenue is recognised in (the recognition "
                     "schedule)._\n\n" + _table(["Currency", "Recognition period",
                                                 "Revenue change"], revenue, max(rows, 12))))
    if r["rules"]:
        optional.append(("rules", "### Rules behind the changes\n\n" + _table(
            ["Rule", "Changed orders"], [[k, n] for k, n in r["rules"].items()], max(rows, 5))))
    if r["issues"]:
        optional.append(("bad records", "### Bad records\n\n" + _table(
            ["Where", "Code", "Message"], [[md.code(f"{i['file']}:{i['line']}", table=True),
                                            i["code"], i["message"]] for i in r["issues"]],
            min(rows, 10), c["issues"])))
    optional.append(("footer", f"<sub>Pruning: {md.text(r['pruning']['description'])}. "
                     f"{r['timing']['orders_per_second']} orders/s, "
                     f"{r['timing']['seconds']} s.</sub>\n"))
    return essential, optional
