"""A self-contained HTML report: inline CSS, SVG charts and a little JS, no network."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from sandbox.report import (
    ISSUED_SIZES,
    credit_note_links,
    document_date,
    largest_note,
    revision_name,
    revision_subject,
    what,
)

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border:1px solid #ddd}
th{background:#f4f4f4;cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#0a6b2f}.neg{color:#b00020}.note{color:#666;font-size:.9em}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;
padding:.6rem 1rem}.card b{display:block;font-size:1.3rem}svg text{font:11px sans-serif}
figure{display:inline-block;vertical-align:top;margin:.5rem 1.5rem .5rem 0}
"""

JS = """
// a cell sorts as a number only when the whole cell is one, or a percentage (dates and
// months sort as text, in time order: parseFloat would read 2011-02-01 as 2011)
var NUMBER = /^[+-]?\\d+(\\.\\d+)?%?$/;
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var i = th.cellIndex;  // the column in its own table
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[i].textContent, y = b.cells[i].textContent;
      if (NUMBER.test(x) && NUMBER.test(y)) { return (parseFloat(x) - parseFloat(y)) * dir; }
      return x.localeCompare(y) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: str, figure: str = "", signed: bool = True) -> str:
    cls = "num"
    value = v.removesuffix("%")
    if signed and value not in ("", "n/a") and Decimal(value):
        cls += " pos" if Decimal(value) > 0 else " neg"
    attr = f' data-figure="{_e(figure)}"' if figure else ""
    return f'<td class="{cls}"{attr}>{_e(v)}</td>'


def table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None,
          figures: list[list[str]] | None = None, counts: set[int] | None = None) -> str:
    """A sortable table; columns in `numeric` are right-aligned and coloured by sign, columns
    in `counts` right-aligned only."""
    numeric = numeric or set()
    counts = counts or set()
    if not rows:
        return '<p class="note">none</p>'
    out = ['<table class="sortable"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            fig = figures[r][i] if figures and i < len(figures[r]) else ""
            if i in numeric or i in counts:
                cells.append(_num(v, fig, signed=i not in counts))
            else:
                cells.append(f"<td>{_e(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</tbody></table>"


def bar_chart(title: str, items: list[tuple[str, Decimal]], chart_id: str) -> str:
    """A vertical bar chart of signed amounts as inline SVG."""
    if not any(v for _, v in items):
        return f'<p class="note">{_e(title)}: no change.</p>'
    width, height, pad = max(320, 28 * len(items) + 80), 220, 40
    top = max(max((v for _, v in items), default=Decimal(0)), Decimal(0))
    bottom = min(min((v for _, v in items), default=Decimal(0)), Decimal(0))
    span = (top - bottom) or Decimal(1)
    zero_y = pad + float(top / span) * (height - 2 * pad)
    step = (width - 60) / len(items)
    parts = [f'<svg id="{_e(chart_id)}" width="{width}" height="{height + 40}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>',
             f'<line x1="50" y1="{zero_y:.1f}" x2="{width - 5}" y2="{zero_y:.1f}" '
             'stroke="#999"/>']
    for i, (label, value) in enumerate(items):
        h = float(abs(value) / span) * (height - 2 * pad)
        x = 55 + i * step
        y = zero_y - h if value > 0 else zero_y
        colour = "#2e7d32" if value > 0 else "#c62828"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 6, 2):.1f}" '
                     f'height="{max(h, 0.5):.1f}" fill="{colour}" data-value="{_e(value)}">'
                     f"<title>{_e(label)}: {_e(value)}</title></rect>")
        parts.append(f'<text x="{x:.1f}" y="{height + 10}" transform="rotate(45 {x:.1f} '
                     f'{height + 10})">{_e(label)}</text>')
    parts.append(f'<text x="2" y="{pad - 10}">{_e(top)}</text>'
                 f'<text x="2" y="{height - pad + 12}">{_e(bottom)}</text></svg>')
    return f"<figure><figcaption>{_e(title)}</figcaption>{''.join(parts)}</figure>"


def _charts(currencies: list[str], title: str, rows: list[dict[str, Any]], key: str,
            charts: list[tuple[str, str, str]]) -> list[str]:
    """Per currency, one bar chart per (measure, label, id prefix) over rows[key]."""
    out = []
    for cur in currencies:
        mine = [row for row in rows if row["currency"] == cur]
        for measure, label, prefix in charts:
            out.append(bar_chart(f"{label} {title}, {cur}",
                                 [(row[key], Decimal(row[measure])) for row in mine][:40],
                                 f"{prefix}-{cur}"))
    return out


def render(report: dict[str, Any], approvals: list[dict[str, Any]] | None = None,
           notes: list[str] | None = None, sections: list[str] | None = None) -> str:
    """The whole page as one string; `notes` (e.g. of the PR check) go after the summary,
    `sections` (HTML, e.g. the check's tests and changed files) after the replay's own."""
    r, c = report, report["counts"]
    base, head = _label(r["base"]), _label(r["head"])
    body = [f"<h1>Policy replay: {base} → {head}</h1>"]
    body += [f'<p class="note">{side} {_e(revision_subject(r[side], str))}: '
             f'{_e(r[side]["subject"])}</p>'
             for side in ("base", "head") if r[side].get("subject")]
    body += [f'<p class="note">Source: {_e(r["source"])}. Pruning: '
             f'{_e(r["pruning"]["description"])}.</p>', '<div class="cards">']
    for key, label in (("read", "orders read"), ("evaluated", "replayed"),
                       ("skipped", "skipped (pruned)"), ("changed", "changed"),
                       ("changed_credit_notes", "of them credit notes"),
                       ("no_longer_evaluates", "no longer evaluate"),
                       ("now_evaluates", "now evaluate"),
                       ("newly_failing", "newly fail validation"),
                       ("newly_passing", "newly pass validation"),
                       ("errors_both", "fail under both"), ("issues", "bad records")):
        body.append(f'<div class="card"><b data-figure="count-{key}">{c[key]}</b>'
                    f"{_e(label)}</div>")
    body.append("</div>")
    if c["evaluated_base_only"]:
        body.append(f'<p class="note" id="base-only">The {c["skipped"]} skipped orders cannot '
                    "change; they were evaluated under the base revision for the totals, so "
                    f"the money table covers {c['evaluated'] + c['skipped']} orders.</p>")
    links = credit_note_links(r.get("credit_note_links") or {})
    if links:
        body.append(f'<p class="note" id="credit-note-links">{_e(links)}</p>')
    body += [f'<p class="note">{_e(n)}</p>' for n in notes or []]
    if approvals:
        body.append("<h2>Required approvals</h2>")
        body.append(table(["Team", "Why"], [[a["team"], "; ".join(a["reasons"])]
                                            for a in approvals]))
    body += _money(r)
    said = any(r.get("issued_tax_unknown") and r["issued_tax_unknown"] in reason
               for a in approvals or [] for reason in a["reasons"])
    if said:  # the approvals above say why
        body.append('<p class="note" id="issued-tax">Tax change on already-issued invoices: '
                    "unknown (the tax_change_issued threshold under Required approvals says "
                    "why).</p>")
    elif r.get("issued_tax_unknown"):
        body.append('<p class="note" id="issued-tax">Tax change on already-issued invoices: '
                    f'unknown: {_e(r["issued_tax_unknown"])}.</p>')
    elif r.get("issued_tax_change"):
        body.append('<p class="note" id="issued-tax">Tax change on already-issued invoices: '
                    + _e(", ".join(f"{cur} {amt}" for cur, amt in r["issued_tax_change"].items()))
                    + f" ({_e(ISSUED_SIZES)}).</p>")
    body += _evaluation(r)
    if r["fields"]:
        body.append("<h2>What changed</h2>")
        body.append(table(["Invoice field", "Orders"],
                          [[x["field"], str(x["orders"])] for x in r["fields"]], counts={1}))
    body.append("<h2>Change by invoice month</h2>")
    body.append('<p class="note">By the month each invoice or credit note is issued in (a '
                "linked credit note's own date, not its sale's).</p>")
    currencies = [t["currency"] for t in r["totals"]]
    body += _charts(currencies, "by invoice month", r["by_month"], "period", [
        ("tax", "Tax change", "chart-tax-month"), ("total", "Total change",
                                                   "chart-total-month")])
    body.append(table(["Currency", "Invoice month", "Net change", "Tax change", "Total change"],
                      [[p["currency"], p["period"], p["net"], p["tax"], p["total"]]
                       for p in r["by_month"]], {2, 3, 4}))
    body.append("<h2>Recognised revenue by period</h2>")
    body.append('<p class="note">By the period the revenue is recognised in (the recognition '
                "schedule), not the invoice month.</p>")
    body += _charts(currencies, "by recognition period", r["revenue_by_period"], "period", [
        ("revenue", "Recognised revenue change", "chart-revenue")])
    body.append(table(["Currency", "Recognition period", "Revenue change"],
                      [[p["currency"], p["period"], p["revenue"]]
                       for p in r["revenue_by_period"]], {2}))
    jur = r["by_jurisdiction"]["rows"]
    body.append("<h2>Change by tax jurisdiction</h2>")
    body += _charts(currencies, "by jurisdiction", jur, "key", [
        ("tax", "Tax change", "chart-tax-jurisdiction"),
        ("net", "Revenue (net) change", "chart-net-jurisdiction"),
        ("total", "Total change", "chart-total-jurisdiction")])
    body.append(table(["Currency", "Jurisdiction", "Net change", "Tax change", "Total change"],
                      [[j["currency"], j["key"], j["net"], j["tax"], j["total"]] for j in jur],
                      {2, 3, 4}))
    body += _more(r["by_jurisdiction"], ("net", "tax", "total"))
    body.append("<h2>Largest changes</h2>")
    body.append(f'<p class="note" id="largest-listing">{_e(largest_note(r).replace("`", ""))}'
                " Changes are signed as they affect the books: a larger refund on a credit "
                "note is a negative change.</p>")
    body.append(table(
        ["Order", "Invoice date", "Customer", "What", "Total change", "Tax change",
         "Caused by"],
        [[d["order"], document_date(d), d["customer"], what(d, 6), d["total_change"],
          d["tax_change"], ", ".join(d.get("rules", []))] for d in r["largest"]], {4, 5}))
    b = r["by_product"]
    body.append("<h2>Change by product</h2>")
    body.append(table(["Currency", "Product", "Net change", "Tax change", "Total change"],
                      [[x["currency"], x["key"], x["net"], x["tax"], x["total"]]
                       for x in b["rows"]], {2, 3, 4}))
    body += _more(b, ("net", "tax", "total"))
    b = r["by_customer"]
    body.append("<h2>Total change by customer</h2>")
    body.append(table(["Currency", "Customer", "Total change"],
                      [[x["currency"], x["key"], x["total"]] for x in b["rows"]], {2}))
    body += _more(b, ("total",))
    body.append("<h2>Validations</h2>")
    body.append(table(["Severity", "Code", "Newly raised (orders)", "No longer raised (orders)"],
                      [[v["severity"], v["code"], str(v["raised"]), str(v["cleared"])]
                       for v in r["validations"]]))
    if r["issues"]:
        body.append("<h2>Bad records</h2>")
        if len(r["issues"]) < c["issues"]:
            body.append(f'<p class="note">The first {len(r["issues"])} of {c["issues"]} bad '
                        "records.</p>")
        body.append(table(["File", "Line", "Code", "Message"],
                          [[i["file"], str(i["line"]), i["code"], i["message"]]
                           for i in r["issues"]]))
    body += sections or []
    t = r["timing"]
    body.append(f'<p class="note">{c["evaluated"]} orders in {t["seconds"]} s '
                f'({t["orders_per_second"]} orders/s, {t["jobs"]} jobs, {_e(t["engine"])}).</p>')
    return page(f"Policy replay {base} → {head}", body)


def _label(side: dict[str, Any]) -> str:
    return _e(revision_name(side, str))


def page(title: str, body: list[str]) -> str:
    """A complete self-contained HTML page around body parts."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<link rel="icon" href="data:,">'
            f"<title>{title}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + f"<script>{JS}</script></body></html>\n")


def _money(r: dict[str, Any]) -> list[str]:
    body = ["<h2>Money by currency</h2>"]
    rows, figs = [], []
    for t in r["totals"]:
        cur = t["currency"]
        rows.append([cur, str(t["orders"]), t["base"]["total"], t["head"]["total"],
                     t["delta"]["total"], _percent(t["change_percent"]), t["base"]["tax"],
                     t["head"]["tax"], t["delta"]["tax"], t["delta"]["discount"]])
        figs.append(["", f"orders-{cur}", f"base-total-{cur}", f"head-total-{cur}",
                     f"total-delta-{cur}", f"total-percent-{cur}", f"base-tax-{cur}",
                     f"head-tax-{cur}", f"tax-delta-{cur}", f"discount-delta-{cur}"])
    body.append(table(["Currency", "Orders", "Base total", "Head total", "Change", "Change %",
                       "Base tax", "Head tax", "Tax change", "Discount change"], rows,
                      {4, 5, 8, 9}, figs, counts={1, 2, 3, 6, 7}))
    if r["totals_cover"] == "replayed":
        body.append('<p class="note" id="totals-cover">Totals cover the replayed orders only: '
                    "skipped orders cannot change, so each change is exact and each "
                    "percentage is relative to the replayed part of the history.</p>")
    return body


def _percent(v: str) -> str:
    """A change percentage as one (`0.43%`); '' (no change of nothing) and `n/a` as they are."""
    return v if v in ("", "n/a") else f"{v}%"


def _more(part: dict[str, Any], measures: tuple[str, ...]) -> list[str]:
    """The note under a breakdown capped at its largest rows: how many more, and their sums."""
    if not part["more"]:
        return []
    sums = "; ".join(f"{cur}: " + ", ".join(f"{m} {v[m]}" for m in measures)
                     for cur, v in part["more_delta"].items())
    return [f'<p class="note">The largest {len(part["rows"])} rows; the other '
            f'{part["more"]}, summed per currency: {_e(sums)}.</p>']


def _evaluation(r: dict[str, Any]) -> list[str]:
    e, body = r["evaluation"], []
    for key, title, side in (("no_longer_evaluate", "Orders that no longer evaluate", "base"),
                             ("now_evaluate", "Orders that now evaluate", "head")):
        part = e[key]
        if not part["orders"]:
            continue
        body.append(f'<h2 id="{key}">{_e(title)}</h2>')
        body.append(f'<p class="note">Not in the money totals: these orders cannot be invoiced '
                    f"under one of the revisions. Their {side} totals:</p>")
        body.append(table(["Currency", "Orders", f"{side.capitalize()} total"],
                          [[b["currency"], str(b["orders"]), b[f"{side}_total"]]
                           for b in part["by_currency"]], counts={1, 2}))
        body.append(table(["Error", "Orders"], [[x["code"], str(x["orders"])]
                                                for x in part["codes"]], counts={1}))
    if e["error_changed"]:
        body.append('<h2 id="error_changed">Orders that fail differently</h2>')
        body.append(table(["Error (base → head)", "Orders"],
                          [[x["change"], str(x["orders"])] for x in e["error_changed"]]))
    if e["errors_both"]:
        body.append('<h2 id="errors_both">Orders that fail under both revisions</h2>')
        body.append(table(["Error", "Orders"], [[x["code"], str(x["orders"])]
                                                for x in e["errors_both"]]))
    return body
