"""Pruned and full replays give identical differences, on varied policy changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sandbox_repo import DISCOUNTS, PRICES, RECOGNITION, TAX, branch

from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build

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
}


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a report that must not depend on pruning."""
    c = report["counts"]
    return {
        "changed": c["changed"], "newly_failing": c["newly_failing"],
        "newly_passing": c["newly_passing"],
        "delta": [(t["currency"], t["delta"]) for t in report["totals"]],
        "largest": report["largest"],
        **{k: report[k] for k in ("by_customer", "by_product", "by_jurisdiction", "by_period",
                                  "validations", "rules")},
    }


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
    if change in ("tax-rate", "tier-bound", "coupon-discount", "recognition-method"):
        assert pruned["counts"]["skipped"] > 0, pruned["pruning"]


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
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        cfg = ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                           history, top_n=1000, chunk=40)
        result = replay(cfg, client=client)
    assert result.engine == "dask"
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
