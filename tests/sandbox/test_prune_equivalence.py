"""Pruned and full replays give identical differences, on varied policy changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sandbox_repo import (
    BASE_FILES,
    DISCOUNTS,
    PRICES,
    RECOGNITION,
    SERIES,
    TAX,
    TERMS,
    branch,
    make_repo,
    orders,
    replay_on_dask,
    write_orders,
)

from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build, metrics

CHANGES = {
    "tax-rate": {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")},
    "tax-rate-past": {"tax/vat.yaml": TAX.replace("rate: 17.5,", "rate: 15,")},
    "tier-bound": {"pricing/retail.yaml": PRICES.replace("up_to: 10,", "up_to: 5,")},
    "discount-condition": {"pricing/promos.yaml": DISCOUNTS.replace("'DE'", "'FR'")},
    "coupon-discount": {"pricing/coupons.yaml":
                        "apiVersion: billplane.dev/v1\nkind: PricingRule\nmetadata: "
                        "{name: welcome, owner: revops}\nspec:\n  coupon: WELCOME10\n"
                        "  effect: {percent_off: 15}\n"},
    "recognition-method": {"recognition/rules.yaml":
                           RECOGNITION.replace("ratable_monthly", "ratable_daily")},
    # terms and numbering change no amount on the invoice, but they change the invoice
    "early-payment": {"credit/terms.yaml": TERMS.replace("{days: 10, percent: 2}",
                                                         "{days: 14, percent: 3}")},
    "reminders": {"credit/terms.yaml": TERMS.replace("{days_after_due: 21}",
                                                     "{days_after_due: 28}")},
    "void-window": {"credit/terms.yaml": TERMS.replace("void: {window_days: 7}",
                                                       "void: {window_days: 5}")},
    "series": {"series/invoices.yaml": SERIES.replace("series: NWUK", "series: NWGB")},
}


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a report that must not depend on pruning."""
    c = report["counts"]
    return {
        **{k: c[k] for k in ("changed", "newly_failing", "newly_passing",
                             "no_longer_evaluates", "now_evaluates", "error_changed")},
        "delta": [(t["currency"], t["delta"]) for t in report["totals"]],
        **{k: report[k] for k in ("largest", "by_customer", "by_product", "by_jurisdiction",
                                  "by_month", "revenue_by_period", "validations", "fields",
                                  "rules", "evaluation")},
    }


def _sans_skipped(totals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in t.items() if k != "skipped"} for t in totals]


def _run(repo: Path, base: str, head: str, orders: str, prune: bool, **kw: Any) -> Any:
    cfg = ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head), orders,
                       prune=prune, top_n=1000, **kw)
    return build(replay(cfg))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_pruned_equals_full(needs_engine: Any, policy_repo: tuple[Path, str], history: str,
                            change: str) -> None:
    repo, base = policy_repo
    head = branch(repo, base, f"change-{change}", CHANGES[change])
    full = _run(repo, base, head, history, prune=False)
    pruned = _run(repo, base, head, history, prune=True)
    assert full["counts"]["changed"] > 0, "the change must affect some orders"
    assert _comparable(pruned) == _comparable(full)
    assert full["counts"]["skipped"] == 0
    # every currency of the history is in the totals, replayed or not
    assert [t["currency"] for t in pruned["totals"]] == ["EUR", "GBP", "USD"]
    assert [t["currency"] for t in full["totals"]] == ["EUR", "GBP", "USD"]
    if change in ("tax-rate", "tier-bound", "coupon-discount", "recognition-method"):
        assert pruned["counts"]["skipped"] > 0, pruned["pruning"]
        assert pruned["totals_cover"] == "replayed"
        # with base totals the pruned replay's totals and percentages are the full replay's
        whole = _run(repo, base, head, history, prune=True, base_totals=True)
        assert whole["totals_cover"] == "all"
        assert _sans_skipped(whole["totals"]) == _sans_skipped(full["totals"])
        assert _comparable(whole) == _comparable(full)
        assert metrics(whole) == metrics(full)
        assert "total_change_percent" not in metrics(pruned)
        assert metrics(pruned)["changed_orders_percent"] == metrics(full)[
            "changed_orders_percent"]


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("change", ["tax-rate", "tax-rate-past"])
@pytest.mark.parametrize("source", ["retail_links.csv", "retail_returns.csv"])
def test_pruned_equals_full_with_credit_notes_of_earlier_sales(
        needs_engine: Any, policy_repo: tuple[Path, str], change: str, source: str) -> None:
    """Credit notes linked to their sale are taxed (and pruned) by the sale's date and counted
    in the month they are issued in, pruned or not."""
    repo, base = policy_repo
    head = branch(repo, base, f"change-{change}", CHANGES[change])
    full = _run(repo, base, head, str(DATA / source), prune=False)
    pruned = _run(repo, base, head, str(DATA / source), prune=True)
    assert full["counts"]["changed"] > 0 and pruned["counts"]["skipped"] > 0
    assert _comparable(pruned) == _comparable(full)
    if (change, source) == ("tax-rate-past", "retail_returns.csv"):
        # 17.5% -> 15% on December's sale of 10.00 and on its return, issued in January
        assert [(p["period"], p["tax"]) for p in full["by_month"]] == [
            ("2010-12", "-0.25"), ("2011-01", "0.25")]


@pytest.mark.parametrize(("change", "fields"), [
    ("early-payment", {"payment.early_payment.amount", "payment.early_payment.percent",
                       "payment.early_payment.until"}),
    ("reminders", {"payment.reminders[]"}),
    ("void-window", {"payment.void.until", "payment.void.window_days"}),
    ("series", {"series"}),
])
def test_terms_and_series_changes_are_visible(needs_engine: Any, policy_repo: tuple[Path, str],
                                              history: str, change: str,
                                              fields: set[str]) -> None:
    repo, base = policy_repo
    head = branch(repo, base, f"change-{change}", CHANGES[change])
    full = _run(repo, base, head, history, prune=False)
    evaluated = full["counts"]["evaluated"] - full["counts"]["errors_both"]
    assert full["counts"]["changed"] == evaluated  # every invoice changes
    assert {f["field"] for f in full["fields"]} == fields
    assert all(f["orders"] == evaluated for f in full["fields"])
    assert all(Decimal(v) == 0 for t in full["totals"] for v in t["delta"].values())
    name = "uk-invoices" if change == "series" else "shop-terms"
    assert full["rules"] == {name: evaluated}


def test_early_payment_change_in_numbers(needs_engine: Any, policy_repo: tuple[Path, str],
                                         history: str) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "change-early-payment", CHANGES["early-payment"])
    full = _run(repo, base, head, history, prune=False)
    d = next(d for d in full["largest"] if d["order"] == "T-0000")
    total = Decimal(d["head_total"])
    assert total == Decimal(d["base_total"])
    base_amount, head_amount, delta = d["fields"]["payment.early_payment.amount"]
    # 2% and 3% off the total, rounded to the cent
    assert Decimal(base_amount) == (total * Decimal("0.98")).quantize(Decimal("0.01"))
    assert Decimal(head_amount) == (total * Decimal("0.97")).quantize(Decimal("0.01"))
    assert Decimal(delta) == Decimal(head_amount) - Decimal(base_amount)
    until = d["fields"]["payment.early_payment.until"]
    assert until[2] == "+4 days"
    assert d["fields"]["payment.early_payment.percent"] == ["2", "3", "1"]


def test_reformatted_rate_is_no_change_pruned_or_not(needs_engine: Any,
                                                     policy_repo: tuple[Path, str],
                                                     history: str) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "rate-20.0", {"tax/vat.yaml": TAX.replace("rate: 20,",
                                                                        "rate: 20.0,")})
    full = _run(repo, base, head, history, prune=False)
    pruned = _run(repo, base, head, history, prune=True)
    assert full["counts"]["changed"] == pruned["counts"]["changed"] == 0
    assert _comparable(pruned) == _comparable(full)
    assert pruned["pruning"]["description"] == "no change can affect any invoice"


def test_revision_against_itself_has_no_differences(needs_engine: Any,
                                                    policy_repo: tuple[Path, str],
                                                    history: str) -> None:
    repo, base = policy_repo
    report = _run(repo, base, base, history, prune=False)
    assert report["counts"]["evaluated"] == 300
    assert report["counts"]["changed"] == 0
    assert report["largest"] == []
    assert all(Decimal(t["delta"][k]) == 0 for t in report["totals"] for k in t["delta"])


def test_parallel_and_dask_match_inline(needs_engine: Any, policy_repo: tuple[Path, str],
                                        history: str) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "parallel", CHANGES["tax-rate"])
    inline = _comparable(_run(repo, base, head, history, prune=True, chunk=40))
    pooled = _comparable(_run(repo, base, head, history, prune=True, chunk=40, jobs=2))
    assert pooled == inline
    result = replay_on_dask(ReplayConfig(RevisionSpec(str(repo), base),
                                         RevisionSpec(str(repo), head), history, top_n=1000,
                                         chunk=40))
    assert _comparable(build(result)) == inline


def test_a_changed_policy_test_is_never_named_as_a_cause() -> None:
    from types import SimpleNamespace

    from engine.bundle import PolicyDoc
    from engine.errors import Location
    from sandbox.prune import impact

    def bundle(expect: str) -> SimpleNamespace:
        doc = PolicyDoc("PolicyTest", "shop-tests", {"cases": [{"expect": expect}]}, Location())
        price = PolicyDoc("PriceBook", "shop", {"products": [{"sku": "A", "v": expect}]},
                          Location())
        return SimpleNamespace(docs={"shop-tests": doc, "shop": price})

    pred = impact(bundle("1"), bundle("2"))
    assert pred.changed == ["shop", "shop-tests"]
    assert pred.inert == ["shop-tests"]


IE_VAT = """\
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: ie-vat, owner: tax}
spec:
  tax: vat
  seller: northwind-ie
  jurisdiction: {country: IE}
  rates:
    - {rate: 23, effective: {from: 2010-01-01}}
"""


def test_a_sellers_first_tax_rule_is_replayed_in_every_country(needs_engine: Any,
                                                               tmp_path: Path) -> None:
    """Every TaxRule names its seller, so another seller's orders are refused
    (unknown_seller); the change gives northwind-ie its first rule, for Ireland, and its
    orders to every other country now fail for want of a rule there (no_tax_rule)."""
    repo = tmp_path / "repo"
    sellers = TAX.replace("  tax: vat\n", "  tax: vat\n  seller: northwind-uk\n")
    base = make_repo(repo, {**BASE_FILES, "tax/vat.yaml": sellers})
    head = branch(repo, base, "ie-seller", {"tax/ie-vat.yaml": IE_VAT})
    items = orders(60)
    for order in items[::3]:
        order["seller"] = "northwind-ie"
    history = write_orders(tmp_path / "orders.jsonl", items)
    full = _run(repo, base, head, history, prune=False)
    pruned = _run(repo, base, head, history, prune=True)
    assert full["evaluation"]["error_changed"] == [
        {"change": "unknown_seller → no_tax_rule", "orders": 20}]
    assert _comparable(pruned) == _comparable(full)
