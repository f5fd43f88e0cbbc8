"""User text (refs, commit subjects, rule, customer, product and jurisdiction names, paths,
messages) reads as itself in the Markdown and HTML reports: it cannot split a table, add
emphasis, links or HTML."""

from __future__ import annotations

import html
import string
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ci.report import render_html, render_md
from sandbox import markdown, report_html, report_md
from sandbox.aggregate import Aggregate
from sandbox.prune import Predicate
from sandbox.replay import ReplayResult
from sandbox.report import build

# GitHub's flavour as far as it matters here: tables, strikethrough, raw HTML
GFM = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
HOSTILE = "Cut VAT | *all* _rates_ <marquee>x</marquee> [see](http://e.x) `a`b ~~no~~ $5 $6 &amp;"
USER_TEXT = st.text(string.ascii_letters[:3] + string.digits[:2] + string.punctuation + " ",
                    max_size=30)


def _literal(text: str) -> str:
    """Text as the Markdown renderer writes it in HTML (`'` left as it is)."""
    return html.escape(text, quote=False).replace('"', "&quot;")


@given(USER_TEXT)
def test_text_reads_as_itself_in_a_line_and_a_table_cell(text: str) -> None:
    assert GFM.render(f"x {markdown.text(text)} x") == f"<p>x {_literal(text)} x</p>\n"
    table = GFM.render(f"| h | n |\n|---|---|\n| {markdown.text(text)} | 1 |\n")
    cell = f"<td>{_literal(text.strip())}</td>" if text.strip() else "<td></td>"
    assert f"<tr>\n{cell}\n<td>1</td>\n</tr>" in table


@given(USER_TEXT.filter(lambda t: t.strip()))
def test_code_reads_as_itself_in_a_line_and_a_table_cell(text: str) -> None:
    assert GFM.render(f"x {markdown.code(text)} x") == (
        f"<p>x <code>{_literal(text)}</code> x</p>\n")
    table = GFM.render(f"| h | n |\n|---|---|\n| {markdown.code(text, table=True)} | 1 |\n")
    assert f"<tr>\n<td><code>{_literal(text)}</code></td>\n<td>1</td>\n</tr>" in table


def test_a_line_break_in_user_text_does_not_end_a_table_row() -> None:
    assert markdown.text("a\nb\r\nc") == "a b c"
    assert markdown.code("a\nb") == "`a b`"


def _doc(name: str, tax: str, total: str) -> dict[str, Any]:
    net = str(Decimal(total) - Decimal(tax))
    return {"doc": {"currency": "GBP", "customer": {"id": f"customer {name}", "country": "GB"},
                    "totals": {"subtotal": net, "discount": "0.00", "net": net, "tax": tax,
                               "total": total},
                    "lines": [{"sku": f"sku {name}", "net": net, "tax_total": tax,
                               "total": total, "tax": [{"rule": f"rule {name}",
                                                        "jurisdiction": f"place {name}",
                                                        "amount": tax}]}],
                    "violations": []},
            "trace": [{"path": "lines[0].tax[0].amount", "rule": f"rule {name}"}]}


def _hostile_report() -> dict[str, Any]:
    agg = Aggregate()
    order = {"id": f"order {HOSTILE}", "date": "2011-02-01", "currency": "GBP",
             "customer": {"id": f"customer {HOSTILE}"}}
    agg.add_order(order, _doc(HOSTILE, "1.00", "10.00"), _doc(HOSTILE, "2.00", "11.00"),
                  record=1)
    agg.add_issue({"file": f"orders {HOSTILE}.jsonl", "line": 3, "code": "bad_order",
                   "message": f"message {HOSTILE}"})
    report = build(ReplayResult(
        agg, Predicate(everything=True, reasons=[f"all orders: {HOSTILE}"]),
        {"revision": "a" * 40}, {"revision": "b" * 40}, f"history {HOSTILE}", 1.0, 1))
    report["base"].update({"ref": "main", "subject": f"subject {HOSTILE}"})
    report["head"].update({"ref": "vat/<marquee>|`x`", "subject": f"subject {HOSTILE}"})
    return report


def _check_data(replay: dict[str, Any] | None) -> dict[str, Any]:
    named = _hostile_report()
    return {"base": "main", "head": "vat/<marquee>|`x`", "base_revision": "a" * 40,
            "revisions": {side: {k: named[side][k] for k in ("revision", "ref", "subject")}
                          for side in ("base", "head")},
            "check": {"base": {"ok": True}, "head": {"ok": False, "errors": [
                {"file": f"tax/{HOSTILE}.yaml", "line": 2, "code": "cel_type_error",
                 "message": f"message {HOSTILE}"}]}},
            "tests": {"passed": 0, "failed": 1, "coverage": {"percent": 0}, "cases": [
                {"where": f"tests/{HOSTILE}.yaml:3", "suite": f"suite {HOSTILE}",
                 "name": f"case {HOSTILE}", "passed": False}]},
            "replay": replay, "failures": [f"failure {HOSTILE}"],
            "notes": [f"Base: the merge base {markdown.code(HOSTILE)} of `main`."],
            "changed_paths": [f"tax/{HOSTILE}.yaml"],
            "approvals": [{"team": f"@acme/{HOSTILE}",
                           "reasons": [f"owns tax/{HOSTILE}.yaml"]}]}


def _rendered(md: str) -> str:
    page = GFM.render(md)
    # the hostile text added no HTML, emphasis, link or strikethrough of its own
    assert "<marquee" not in page and '<a href="http://e.x"' not in page
    assert "<em>all</em>" not in page and "<em>rates</em>" not in page
    assert "<s>no</s>" not in page
    return page


def _rows_have_their_cells(md: str) -> None:
    for block in md.split("\n\n"):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if len(lines) > 2:
            page = GFM.render("\n".join(lines) + "\n")
            heads = page.count("<th>")
            assert page.count("<td>") == heads * (len(lines) - 2), block


def test_replay_markdown_escapes_user_text() -> None:
    md = report_md.render(_hostile_report())
    page = _rendered(md)
    _rows_have_their_cells(md)
    literal = _literal(HOSTILE)
    for text in (f"subject {literal}", f"<td>customer {literal}</td>",
                 f"<td>sku {literal}</td>", f"<td>place {literal}</td>",
                 f"<td>rule {literal}</td>", f"<td>order {literal}</td>",
                 f"<td>message {literal}</td>", f"all orders: {literal}",
                 f"<code>history {literal}</code>",
                 "<code>vat/&lt;marquee&gt;|`x`</code>"):
        assert text in page, text


def test_check_markdown_escapes_user_text() -> None:
    literal = _literal(HOSTILE)
    for replay in (None, _hostile_report()):
        md = render_md(_check_data(replay))
        page = _rendered(md)
        _rows_have_their_cells(md)
        for text in (f"<strong>@acme/{literal}</strong>: owns tax/{literal}.yaml",
                     f"<code>tax/{literal}.yaml</code>", f"failure {literal}",
                     f"<code>tests/{literal}.yaml:3</code> suite {literal} / case {literal}",
                     f"cel_type_error: message {literal}", f"<code>{literal}</code> of",
                     "<code>vat/&lt;marquee&gt;|`x`</code>"):
            assert text in page, text


def test_html_reports_escape_user_text() -> None:
    literal = html.escape(HOSTILE)
    replay = _hostile_report()
    pages = [report_html.render(replay), render_html(_check_data(None)),
             render_html(_check_data(replay))]
    for page in pages:
        assert "<marquee" not in page
        assert "vat/&lt;marquee&gt;|`x`" in page
        assert f"subject {literal}" in page
    for text in (f"customer {literal}", f"sku {literal}", f"place {literal}",
                 f"rule {literal}", f"order {literal}", f"history {literal}",
                 f"message {literal}", f"all orders: {literal}"):
        assert text in pages[0], text
    for page in pages[1:]:
        for text in (f"@acme/{literal}", f"tax/{literal}.yaml", f"failure {literal}",
                     f"suite {literal}", f"case {literal}", f"message {literal}"):
            assert text in page, text
