"""The replay report as plain JSON data; the Markdown and HTML reports render from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.errors import BillplaneError
from engine.money import fmt
from sandbox.aggregate import MEASURES, Aggregate
from sandbox.diff import ZERO, s
from sandbox.facts import TOTALS
from sandbox.markdown import code
from sandbox.replay import ReplayResult

SCHEMA = "billplane.replay/v2"
MAX_ROWS = 1000  # per breakdown in the JSON report; the rest is summed into one row
COUNTS = ("read", "issues", "skipped", "evaluated", "evaluated_base_only", "changed",
          "changed_credit_notes", "tax_changed_issue_unknown",
          "no_longer_evaluates", "now_evaluates", "error_changed", "errors_both",
          "newly_failing", "newly_passing")


def money(value: Decimal, currency: str) -> str:
    """An amount with the currency's minor digits (`0.00`), or as it is for an unknown code."""
    try:
        return fmt(value, currency)
    except BillplaneError:
        return s(value)


def _percent(delta: Decimal, base: Decimal) -> str:
    if not base:
        return "" if not delta else "n/a"
    return s((delta * 100 / base).quantize(Decimal("0.01")))


def _breakdown(agg: Aggregate, name: str, measures: tuple[str, ...],
               limit: int = MAX_ROWS) -> dict[str, Any]:
    """Rows of one breakdown, largest change first; beyond `limit`, summed per currency."""
    data = agg.table(name)
    rows = sorted(data.items(), key=lambda kv: (
        -max(abs(kv[1].get(m, ZERO)) for m in measures), kv[0]))
    out = [{"currency": c, "key": k, **{m: money(v.get(m, ZERO), c) for m in measures}}
           for (c, k), v in rows[:limit]]
    rest = rows[limit:]
    more: dict[str, dict[str, str]] = {}
    for cur in sorted({c for (c, _), _ in rest}):
        more[cur] = {m: money(sum((v.get(m, ZERO) for (cc, _), v in rest if cc == cur),
                                  ZERO), cur) for m in measures}
    return {"rows": out, "more": len(rest), "more_delta": more}


def _by_period(agg: Aggregate, name: str, measures: tuple[str, ...]) -> list[dict[str, Any]]:
    data = agg.table(name)
    return [{"currency": c, "period": p, **{m: money(v.get(m, ZERO), c) for m in measures}}
            for (c, p), v in sorted(data.items())]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return s(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _codes(agg: Aggregate, table: str) -> list[dict[str, Any]]:
    rows = [(key[2], n) for key, n in agg.tallies.items()
            if key[0] == table and key[1] == "code"]
    return [{"code": code, "orders": n} for code, n in sorted(rows, key=lambda r: (-r[1], r[0]))]


def _one_sided(agg: Aggregate, table: str, side: str) -> dict[str, Any]:
    """Orders that evaluate under one revision only: counts by code, that side's totals."""
    currencies = sorted(key[2] for key in agg.tallies if key[0] == table
                        and key[1] == "currency")
    return {"orders": agg.counts[table], "codes": _codes(agg, table),
            "by_currency": [{"currency": c, "orders": agg.tallies[(table, "currency", c)],
                             f"{side}_total": money(agg.sums.get((table, c, "", "total"),
                                                                 ZERO), c)}
                            for c in currencies]}


def _totals(agg: Aggregate) -> list[dict[str, Any]]:
    currencies = {k[1] for k in agg.sums if k[0] == "totals"} | {
        k[1] for k in agg.tallies if k[0] in ("orders", "skipped")}
    out = []
    for cur in sorted(currencies):
        base = {k: agg.sums.get(("totals", cur, "base", k), ZERO) for k in TOTALS}
        head = {k: agg.sums.get(("totals", cur, "head", k), ZERO) for k in TOTALS}
        delta = {k: head[k] - base[k] for k in TOTALS}
        out.append({"currency": cur, "orders": agg.tallies[("orders", cur)],
                    "skipped": agg.tallies[("skipped", cur)],
                    "base": {k: money(v, cur) for k, v in base.items()},
                    "head": {k: money(v, cur) for k, v in head.items()},
                    "delta": {k: money(v, cur) for k, v in delta.items()},
                    "change_percent": _percent(delta["total"], base["total"]),
                    "tax_change_percent": _percent(delta["tax"], base["tax"])})
    return out


ISSUED_SIZES = ("each order's change by its size: a rise on one invoice and a fall on "
                "another do not offset, each is a correction")


def credit_note_links(links: dict[str, int]) -> str:
    """What the reports say of credit notes linked to the sale they cancel ('' when the
    source does not link them)."""
    if not links:
        return ""
    linked = links.get("linked", 0)
    why = [f"{links[k]} {text}" for k, text in (
        ("unknown", "with no earlier sale found"),
        ("ambiguous", "whose lines point to sales of different dates")) if links.get(k)]
    why += [f"{n} {k}" for k, n in links.items() if k not in ("linked", "unknown", "ambiguous")]
    own = sum(links.values()) - linked
    rest = f"; {own} at their own date ({', '.join(why)})" if own else ""
    return (f"Of {sum(links.values())} credit notes, {linked} were linked to the sale they "
            f"cancel and taxed at its date{rest}.")


def _issued_unknown(orders: int) -> str:
    if not orders:
        return ""
    return (f"the tax of {orders} changed orders changed, and the history does not say "
            "whether their invoices were issued (only the service's store does: "
            "attributes.issued_invoice)")


def build(result: ReplayResult) -> dict[str, Any]:
    """Everything the reports show, JSON-ready (amounts as decimal strings)."""
    agg = result.aggregate
    counts = {k: agg.counts.get(k, 0) for k in COUNTS}
    counts["unchanged"] = counts["evaluated"] - counts["changed"]
    pred = result.predicate
    validations: dict[tuple[str, str], dict[str, Any]] = {}
    for key, n in agg.tallies.items():
        if key[0] == "validation":
            row = validations.setdefault((key[1], key[2]), {"severity": key[1], "code": key[2],
                                                            "raised": 0, "cleared": 0})
            row[key[3]] += n
    largest = _jsonable(agg.largest())
    return {
        "schema": SCHEMA,
        "base": result.base,
        "head": result.head,
        "source": result.source,
        "counts": counts,
        "pruning": {"enabled": result.pruned,
                    "description": pred.describe(), "reasons": list(pred.reasons),
                    "changed_documents": list(pred.changed), "skipped": counts["skipped"],
                    "base_totals": result.base_totals},
        # `all`: totals and percentages cover every order; `replayed`: pruned orders are out
        "totals_cover": result.totals_cover,
        "totals": _totals(agg),
        # credit notes by `attributes.original` (linked to their sale or not), when the
        # source says: {} otherwise
        "credit_note_links": {k[1]: n for k, n in sorted(agg.tallies.items())
                              if k[0] == "original"},
        "evaluation": {
            "no_longer_evaluate": _one_sided(agg, "no_longer_evaluates", "base"),
            "now_evaluate": _one_sided(agg, "now_evaluates", "head"),
            "error_changed": [{"change": k[1], "orders": n} for k, n in sorted(
                agg.tallies.items()) if k[0] == "error_changed"],
            "errors_both": _codes(agg, "errors_both"),
        },
        "by_customer": _breakdown(agg, "customer", ("total",)),
        "by_product": _breakdown(agg, "product", MEASURES),
        "by_jurisdiction": _breakdown(agg, "jurisdiction", MEASURES),
        "by_month": _by_period(agg, "month", MEASURES),
        "revenue_by_period": _by_period(agg, "revenue", ("revenue",)),
        "issued_tax_change": {c: money(v["tax"], c) for (c, _), v in sorted(
            agg.table("issued_tax").items())},
        # '' when known; else why not (the history does not say which orders were issued)
        "issued_tax_unknown": _issued_unknown(counts["tax_changed_issue_unknown"]),
        "validations": sorted(validations.values(), key=lambda r: (
            r["severity"] != "error", -(r["raised"] + r["cleared"]), r["code"])),
        "fields": [{"field": k[1], "orders": n} for k, n in sorted(
            agg.tallies.items(), key=lambda kv: (-kv[1], kv[0])) if k[0] == "field"],
        "rules": {k[1]: n for k, n in sorted(agg.tallies.items(), key=lambda kv: (
            -kv[1], kv[0])) if k[0] == "rule"},
        "largest": largest,
        "largest_listing": {
            "top": agg.top_n, "listed": len(largest), "changed": counts["changed"],
            "credit_notes_listed": sum(1 for d in largest if d.get("document") == "credit_note"),
            "changed_credit_notes": counts["changed_credit_notes"]},
        "issues": agg.issues,
        "timing": {"seconds": round(result.seconds, 3), "jobs": result.jobs,
                   "engine": result.engine,
                   "orders_per_second": round(counts["evaluated"] / result.seconds, 1)
                   if result.seconds else 0.0},
    }


def name_revisions(report: dict[str, Any], repo: str, refs: dict[str, str],
                   merge_bases: tuple[str, ...] = ()) -> None:
    """Add to `report["base"]`/`["head"]` the ref each was given as (`refs`: side -> ref) and
    its commit's subject, so that reports name revisions that outlive their SHAs' repository
    (best effort: a ref git cannot read again is left unnamed).

    A side in `merge_bases` was replayed at the merge base of its ref with the other side
    (the PR check): when the ref has moved past it, the side is named `merge_base_of` the ref
    instead, since the ref itself names another commit.

    A side given as `HEAD` while HEAD is on a branch is also named by that `branch` (a CI
    checkout of a merge commit has none: HEAD is detached), since `HEAD` names no change."""
    import git

    try:
        found = git.Repo(repo, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return
    for side, ref in refs.items():
        revision = str(report[side].get("revision", ""))
        try:
            commit = found.commit(ref)
            if str(commit.hexsha) != revision:
                if side not in merge_bases or not revision:
                    continue
                commit = found.commit(revision)
                report[side]["merge_base_of"] = ref
            else:
                report[side]["ref"] = ref
        except (git.BadName, ValueError, git.GitCommandError):
            continue
        report[side]["subject"] = str(commit.summary)
        if ref == "HEAD" and not found.head.is_detached:
            report[side]["branch"] = str(found.head.reference.name)


def revision_label(side: dict[str, Any]) -> tuple[str, str]:
    """(ref or '', short SHA) of one side of a report, for titles; a ref that is the SHA (or
    a prefix of it) is ''."""
    revision = str(side.get("revision") or "")
    sha = revision[:12] or "(working tree)"
    ref = str(side.get("ref") or "")
    return ("" if not ref or revision.startswith(ref) else ref), sha


def revision_name(side: dict[str, Any], quote: Callable[[str], str] = code) -> str:
    """One side of a report as titles name it: `main` (`1a2b3c4d5e6f`), `1a2b3c4d5e6f`, for a
    merge base `main` (merge base `1a2b3c4d5e6f`), for HEAD on a branch `feature-x` (HEAD at
    `1a2b3c4d5e6f`); `quote` writes a name (a Markdown code span; `str` for HTML, which
    escapes the whole)."""
    ref, sha = revision_label(side)
    head = "HEAD" if side.get("branch") else ""
    if side.get("merge_base_of"):
        name = side.get("branch") or side["merge_base_of"]
        return f"{quote(name)} ({head + ', ' if head else ''}merge base {quote(sha)})"
    if not ref:
        return quote(sha)
    return f"{quote(side.get('branch') or ref)} ({head + ' at ' if head else ''}{quote(sha)})"


def revision_subject(side: dict[str, Any], quote: Callable[[str], str] = code) -> str:
    """How a side is named before its commit's subject: `main`, `main` (merge base), or for
    HEAD on a branch `feature-x` (HEAD)."""
    head = "HEAD" if side.get("branch") else ""
    if side.get("merge_base_of"):
        name = side.get("branch") or side["merge_base_of"]
        return f"{quote(name)} ({head + ', ' if head else ''}merge base)"
    ref, sha = revision_label(side)
    if ref and head:
        return f"{quote(side['branch'])} ({head})"
    return quote(ref or sha)


def to_json(report: dict[str, Any]) -> str:
    """Stable, readable JSON text of a report."""
    return json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


PERCENT_METRICS = ("total_change_percent", "tax_change_percent")
_PERCENT_KEYS = ("change_percent", "tax_change_percent")  # the totals' field of each


def metrics(report: dict[str, Any]) -> dict[str, Decimal]:
    """Impact metrics that Ownership thresholds name (over currencies, the change of the
    largest size, signed: thresholds compare sizes, so a fall is as large as a rise); a
    metric this replay cannot give is left out (`unknown_metrics` says why).

    The percentages of totals are given only when the totals cover every order (a pruned
    replay without base totals leaves them out, so that a threshold cannot read a percentage
    of part of the history); `changed_orders_percent` is over every order either way, since
    a pruned order is unchanged by construction; a change from a base total (or tax) of zero
    is no percentage and leaves its metric out. `newly_failing` counts the orders that can
    be issued under the base revision and not under the head: a new blocking validation or no
    longer evaluating. `tax_change_issued` needs to know which orders were issued: only the
    store's orders say (`attributes.issued_invoice`), so it is left out when the tax of an
    order that does not say changed.
    """
    def most(values: list[str]) -> Decimal:
        # the change of the largest size, with its sign (a fall is reported as one)
        nums = [Decimal(v) for v in values if v not in ("", "n/a")]
        return max(nums, key=lambda n: (abs(n), n), default=ZERO)

    t = report["totals"]
    c = report["counts"]
    orders = c["evaluated"] + c["skipped"]
    out = {
        "total_change": most([r["delta"]["total"] for r in t]),
        "tax_change": most([r["delta"]["tax"] for r in t]),
        "tax_change_issued": most(list(report["issued_tax_change"].values())),
        "changed_orders": Decimal(c["changed"]),
        "newly_failing": Decimal(c["newly_failing"] + c["no_longer_evaluates"]),
        "no_longer_evaluate": Decimal(c["no_longer_evaluates"]),
        "changed_orders_percent": (Decimal(c["changed"]) * 100 / orders).quantize(
            Decimal("0.01")) if orders else ZERO,
    }
    if report.get("totals_cover", "all") == "all":
        for metric, key in zip(PERCENT_METRICS, _PERCENT_KEYS, strict=True):
            # a change from a base of zero is no percentage: unknown, never 0
            if all(r[key] != "n/a" for r in t):
                out[metric] = most([r[key] for r in t])
    if report.get("issued_tax_unknown"):
        del out["tax_change_issued"]
    return out


def unknown_metrics(report: dict[str, Any]) -> dict[str, str]:
    """Why each metric `metrics` leaves out could not be worked out from this replay."""
    out = {}
    if report.get("totals_cover", "all") != "all":
        why = ("the totals cover the replayed orders only (pruned without base totals)")
        out.update(dict.fromkeys(PERCENT_METRICS, why))
    else:
        for metric, key in zip(PERCENT_METRICS, _PERCENT_KEYS, strict=True):
            zero = [r["currency"] for r in report["totals"] if r[key] == "n/a"]
            if zero:
                what = "total" if metric == "total_change_percent" else "tax"
                out[metric] = (f"the base {what} of {', '.join(zero)} is zero and changes "
                               "(no percentage of it)")
    if report.get("issued_tax_unknown"):
        out["tax_change_issued"] = str(report["issued_tax_unknown"])
    return out


def metric_names() -> list[str]:
    """Every metric a threshold may name."""
    return sorted([*PERCENT_METRICS, "total_change", "tax_change", "tax_change_issued",
                   "changed_orders", "newly_failing", "no_longer_evaluate",
                   "changed_orders_percent"])


def largest_note(report: dict[str, Any]) -> str:
    """What the list of largest changes holds and why, in one or two sentences."""
    info = report["largest_listing"]
    changed, listed, notes = info["changed"], info["listed"], info["changed_credit_notes"]
    if not changed:
        return "No order changes."
    of_them = f" ({notes} of them credit notes)" if notes else ""
    ranked = ("changes of outcome first, then by the size of the total change, credit notes "
              "and invoices alike")
    if listed < changed:
        among = (f"; {info['credit_notes_listed']} of the listed are credit notes"
                 if notes else "")
        return (f"{changed} orders change{of_them}; listed are the {listed} largest "
                f"(`--top {info['top']}`): {ranked}{among}.")
    return f"All {changed} changed orders are listed{of_them}: {ranked}."


def document_date(d: dict[str, Any]) -> str:
    """The date of a listed change as the reports show it: the document's own (invoice) date,
    and beside it the date its prices and tax follow where that differs: `2011-01-08 (sale
    2010-12-04)` for a credit note linked to its sale, `2011-03-02 (order 2011-02-01)` for an
    invoice issued after its order date."""
    date = str(d.get("date", ""))
    issued = str(d.get("invoice_date") or date)
    if issued == date:
        return date
    return f"{issued} ({'sale' if d.get('document') == 'credit_note' else 'order'} {date})"


OUTCOMES = {"no_longer_evaluates": "no longer evaluates", "now_evaluates": "now evaluates",
            "error_changed": "fails differently", "newly_failing": "newly fails validation",
            "newly_passing": "newly passes validation"}


_LINE_ASPECTS = {"unit_amount": "price", "amount": "price", "discounts": "discount",
                 "discount_total": "discount", "tax": "tax", "tax_total": "tax",
                 "recognition": "recognition", "period": "recognition",
                 "net": "", "total": ""}  # net and total follow from the others
_TOP_ASPECTS = {"totals": "", "tax_summary": "tax", "violations": "validations"}


def aspect(field: str) -> str:
    """What a changed invoice field is about, in words (`payment.early_payment.amount` ->
    `early payment`); '' for totals and journal lines, which follow from other changes."""
    parts = field.replace("[]", "").split(".")
    if parts[0] == "lines" and len(parts) > 1:
        return _LINE_ASPECTS.get(parts[1], parts[1].replace("_", " "))
    if parts[0] == "payment" and len(parts) > 1:
        return parts[1].replace("_", " ")
    if parts[0] == "recognition":
        return "" if parts[1:2] == ["journal"] else "recognition"
    return _TOP_ASPECTS.get(parts[0], parts[0].replace("_", " "))


def what(d: dict[str, Any], fields: int = 4) -> str:
    """One line on what changed for an order (for the tables of largest changes)."""
    parts = ["credit note"] if d.get("document") == "credit_note" else []
    outcome = d.get("outcome", "")
    if outcome == "no_longer_evaluates":
        parts.append(f"no longer evaluates ({d['head_error']}); base total {d['base_total']}")
    elif outcome == "now_evaluates":
        parts.append(f"now evaluates (was {d['base_error']}); head total {d['head_total']}")
    elif outcome == "error_changed":
        parts.append(f"fails differently: {d['base_error']} → {d['head_error']}")
    else:
        if outcome:
            parts.append(OUTCOMES[outcome])
        changed = list(dict.fromkeys(a for f in d.get("changed", ()) if (a := aspect(f))))
        changed = changed or list(d.get("changed", ()))
        more = f" +{len(changed) - fields} more" if len(changed) > fields else ""
        parts.append(", ".join(changed[:fields]) + more)
    return "; ".join(p for p in parts if p)
