"""A self-contained HTML report: inline CSS, SVG charts and a little JS, no network."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border:1px solid #ddd}
th{background:#f4f4f4;cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#0a6b2f}.neg{color:#b00020}.note{color:#666;font-size:.9em}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;
padding:.6rem 1rem}.card b{display:block;font-size:1.3rem}svg text{font:11px sans-serif}
"""

JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, i) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[i].textContent, y = b.cells[i].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      if (!isNaN(nx) && !isNaN(ny)) { return (nx - ny) * dir; }
      return x.localeCompare(y) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: str, figure: str = "") -> str:
    cls = "num"
    if v not in ("", "n/a") and Decimal(v):
        cls += " pos" if Decimal(v) > 0 else " neg"
    attr = f' data-figure="{_e(figure)}"' if figure else ""
    return f'<td class="{cls}"{attr}>{_e(v)}</td>'


def table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None,
          figures: list[list[str]] | None = None) -> str:
    """A sortable table; columns in `numeric` are right-aligned and coloured by sign."""
    numeric = numeric or set()
    if not rows:
        return '<p class="note">none</p>'
    out = ['<table class="sortable"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            fig = figures[r][i] if figures and i < len(figures[r]) else ""
            cells.append(_num(v, fig) if i in numeric else f"<td>{_e(v)}</td>")
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


def render(report: dict[str, Any], approvals: list[dict[str, Any]] | None = None) -> str:
    """The whole page as one string."""
    r, c = report, report["counts"]
    base, head = _e(str(r["base"].get("revision", ""))[:12]), _e(str(r["head"].get(
        "revision", ""))[:12])
    body = [f"<h1>Policy replay: {base} → {head}</h1>",
            f'<p class="note">Source: {_e(r["source"])}. Pruning: '
            f'{_e(r["pruning"]["description"])}.</p>', '<div class="cards">']
    for key, label in (("read", "orders read"), ("evaluated", "replayed"),
                       ("skipped", "skipped (pruned)"), ("changed", "changed"),
                       ("newly_failing", "newly failing"), ("newly_passing", "newly passing"),
                       ("issues", "bad records")):
        body.append(f'<div class="card"><b data-figure="count-{key}">{c[key]}</b>'
                    f"{_e(label)}</div>")
    body.append("</div>")
    if approvals:
        body.append("<h2>Required approvals</h2>")
        body.append(table(["Team", "Why"], [[a["team"], "; ".join(a["reasons"])]
                                            for a in approvals]))
    body.append("<h2>Money by currency</h2>")
    rows, figs = [], []
    for t in r["totals"]:
        cur = t["currency"]
        rows.append([cur, t["base"]["total"], t["head"]["total"], t["delta"]["total"],
                     t["change_percent"], t["base"]["tax"], t["head"]["tax"], t["delta"]["tax"],
                     t["delta"]["discount"]])
        figs.append(["", f"base-total-{cur}", f"head-total-{cur}", f"total-delta-{cur}",
                     f"total-percent-{cur}", f"base-tax-{cur}", f"head-tax-{cur}",
                     f"tax-delta-{cur}", f"discount-delta-{cur}"])
    body.append(table(["Currency", "Base total", "Head total", "Change", "Change %", "Base tax",
                       "Head tax", "Tax change", "Discount change"], rows,
                      set(range(1, 9)), figs))
    for cur in sorted({p["currency"] for p in r["by_period"]}):
        ps = [p for p in r["by_period"] if p["currency"] == cur]
        body.append(f"<h2>Change by period ({_e(cur)})</h2>")
        body.append(bar_chart(f"Recognised revenue change by period, {cur}",
                              [(p["period"], Decimal(p["revenue"])) for p in ps],
                              f"chart-revenue-{cur}"))
        body.append(bar_chart(f"Tax change by period, {cur}",
                              [(p["period"], Decimal(p["tax"])) for p in ps],
                              f"chart-tax-period-{cur}"))
        body.append(table(["Period", "Total change", "Tax change", "Revenue change"],
                          [[p["period"], p["total"], p["tax"], p["revenue"]] for p in ps],
                          {1, 2, 3}))
    jur = r["by_jurisdiction"]["rows"]
    body.append("<h2>Tax change by jurisdiction</h2>")
    for cur in sorted({j["currency"] for j in jur}):
        body.append(bar_chart(f"Tax change by jurisdiction, {cur}",
                              [(j["key"], Decimal(j["delta"])) for j in jur
                               if j["currency"] == cur][:40], f"chart-tax-jurisdiction-{cur}"))
    body.append(table(["Currency", "Jurisdiction", "Tax change"],
                      [[j["currency"], j["key"], j["delta"]] for j in jur], {2}))
    body.append("<h2>Largest changes</h2>")
    body.append(table(
        ["Order", "Date", "Customer", "What", "Total change", "Tax change", "Caused by"],
        [[d["order"], d["date"], d["customer"], d["outcome"] or "amounts",
          d.get("totals", {}).get("total", ["", "", "0"])[2],
          d.get("totals", {}).get("tax", ["", "", "0"])[2], ", ".join(d.get("rules", []))]
         for d in r["largest"]], {4, 5}))
    for title, key in (("Net change by product", "by_product"),
                       ("Total change by customer", "by_customer")):
        b = r[key]
        body.append(f"<h2>{_e(title)}</h2>")
        body.append(table(["Currency", key.split("_", 1)[1].capitalize(), "Change"],
                          [[x["currency"], x["key"], x["delta"]] for x in b["rows"]], {2}))
    v = r["validations"]
    body.append("<h2>Validations</h2>")
    body.append(table(["Code", "Newly failing", "Newly passing"],
                      [[k, str(n), ""] for k, n in v["newly_failing"].items()]
                      + [[k, "", str(n)] for k, n in v["newly_passing"].items()]))
    if r["issues"]:
        body.append("<h2>Bad records</h2>")
        body.append(table(["File", "Line", "Code", "Message"],
                          [[i["file"], str(i["line"]), i["code"], i["message"]]
                           for i in r["issues"][:200]]))
    t = r["timing"]
    body.append(f'<p class="note">{t["evaluated"] if "evaluated" in t else c["evaluated"]} '
                f'orders in {t["seconds"]} s ({t["orders_per_second"]} orders/s, '
                f'{t["jobs"]} jobs, {_e(t["engine"])}).</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<link rel="icon" href="data:,">'
            f"<title>Policy replay {base} → {head}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + f"<script>{JS}</script></body></html>\n")
