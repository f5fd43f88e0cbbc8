"""Impact predicates computed from bundle differences (hand-derived expectations)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from sandbox.prune import impact


def _b(*docs: tuple[str, str, dict[str, Any]]) -> Any:
    return SimpleNamespace(docs={n: SimpleNamespace(kind=k, name=n, spec=s) for k, n, s in docs},
                           products={})


def _tax(rates: list[dict[str, Any]], country: str = "GB", **extra: Any) -> dict[str, Any]:
    return {"tax": "vat", "jurisdiction": {"country": country}, "rates": rates, **extra}


OLD = [{"rate": 17.5, "effective": {"from": "2010-01-01", "until": "2011-01-04"}},
       {"rate": 20, "effective": {"from": "2011-01-04"}}]


def _order(country: str, date: str, sku: str = "X", coupons: list[str] | None = None) -> Any:
    return {"date": date, "customer": {"country": country}, "lines": [{"sku": sku}],
            "coupons": coupons or []}


def test_tax_rate_change_selects_country_and_dates() -> None:
    new = [OLD[0], {"rate": 20, "effective": {"from": "2011-01-04", "until": "2012-01-01"}},
           {"rate": 21, "effective": {"from": "2012-01-01"}}]
    pred = impact(_b(("TaxRule", "uk", _tax(OLD))), _b(("TaxRule", "uk", _tax(new))))
    assert pred.countries == [("GB", [("2012-01-01", "9999-12-31")])]
    assert pred.selects(_order("GB", "2012-01-01"))
    assert not pred.selects(_order("GB", "2011-12-31"))
    assert not pred.selects(_order("DE", "2012-06-01"))


def test_moved_boundary_selects_only_the_days_between() -> None:
    new = [{"rate": 17.5, "effective": {"from": "2010-01-01", "until": "2011-02-01"}},
           {"rate": 20, "effective": {"from": "2011-02-01"}}]
    pred = impact(_b(("TaxRule", "uk", _tax(OLD))), _b(("TaxRule", "uk", _tax(new))))
    assert pred.countries == [("GB", [("2011-01-04", "2011-02-01")])]


def test_other_tax_fields_select_every_date_of_both_countries() -> None:
    pred = impact(_b(("TaxRule", "v", _tax(OLD))),
                  _b(("TaxRule", "v", _tax(OLD, country="IE", inclusive=True))))
    assert sorted(pred.countries) == [("GB", []), ("IE", [])]
    reverse = impact(_b(("TaxRule", "v", _tax(OLD))),
                     _b(("TaxRule", "v", _tax(OLD, reverse_charge="eu"))))
    assert reverse.everything


def test_group_jurisdictions_select_every_order() -> None:
    # `EU` looks like a country code but covers every member state; `*` covers every country
    for group in ("EU", "*"):
        pred = impact(_b(("TaxRule", "g", _tax(OLD, country=group))),
                      _b(("TaxRule", "g", _tax(OLD, country=group, inclusive=True))))
        assert pred.everything


def test_price_coupon_recognition_and_unknown() -> None:
    book = {"products": [{"sku": "A", "prices": [1]}, {"sku": "B", "type": "subscription",
                                                       "prices": [2]}]}
    book2 = {"products": [{"sku": "A", "prices": [1]}, {"sku": "B", "type": "subscription",
                                                        "prices": [3]}]}
    pred = impact(_b(("PriceBook", "p", book)), _b(("PriceBook", "p", book2)))
    assert pred.skus == {"B"} and not pred.everything
    coupon = impact(_b(("PricingRule", "c", {"coupon": "X", "effect": {"percent_off": 5}})),
                    _b(("PricingRule", "c", {"coupon": "X", "effect": {"percent_off": 6}})))
    assert coupon.coupons == {"X"} and coupon.selects(_order("GB", "2020-01-01", coupons=["X"]))
    assert not coupon.selects(_order("GB", "2020-01-01"))
    gated_off = impact(_b(("PricingRule", "c", {"coupon": "X"})),
                       _b(("PricingRule", "c", {"when": "true"})))
    assert gated_off.everything
    rec = {"applies_to": "line.product_type == 'subscription'", "method": "ratable_daily"}
    rec2 = dict(rec, method="ratable_monthly")
    r = impact(_b(("PriceBook", "p", book), ("RecognitionRule", "r", rec)),
               _b(("PriceBook", "p", book), ("RecognitionRule", "r", rec2)))
    assert r.skus == {"B"}
    r2 = impact(_b(("RecognitionRule", "r", dict(rec, applies_to="line.units > 1"))),
                _b(("RecognitionRule", "r", rec2)))
    assert r2.everything
    assert impact(_b(("CreditPolicy", "x", {"terms": 1})),
                  _b(("CreditPolicy", "x", {"terms": 2}))).everything
    same = impact(_b(("TaxRule", "uk", _tax(OLD))), _b(("TaxRule", "uk", _tax(OLD)),
                                                     ("PolicyTest", "t", {"cases": []})))
    assert same.nothing and not same.selects(_order("GB", "2012-01-01"))


def test_a_sellers_first_or_last_tax_rule_selects_every_order() -> None:
    # every rule names its seller: a seller without one is refused (unknown_seller), and a
    # seller's first rule taxes (or refuses, no_tax_rule) its orders in every country
    uk = _tax(OLD, seller="northwind-uk")
    ie = _tax([{"rate": 23}], country="IE", seller="northwind-ie")
    added = impact(_b(("TaxRule", "uk", uk)), _b(("TaxRule", "uk", uk), ("TaxRule", "ie", ie)))
    assert added.everything and added.selects(_order("FR", "2011-02-01"))
    removed = impact(_b(("TaxRule", "uk", uk), ("TaxRule", "ie", ie)), _b(("TaxRule", "uk", uk)))
    assert removed.everything
    moved = impact(_b(("TaxRule", "uk", uk), ("TaxRule", "ie", ie)),
                   _b(("TaxRule", "uk", uk), ("TaxRule", "ie", dict(ie, seller="northwind-eu"))))
    assert moved.everything
    # a rule that names no seller taxes every seller's orders: another seller's rule then
    # only changes its own country
    anyone = _tax(OLD)
    pred = impact(_b(("TaxRule", "uk", anyone)),
                  _b(("TaxRule", "uk", anyone), ("TaxRule", "ie", ie)))
    assert not pred.everything and pred.countries == [("IE", [])]
    # so does a second rule of a seller that has one already
    more = _tax([{"rate": 23}], country="FR", seller="northwind-uk")
    pred = impact(_b(("TaxRule", "uk", uk)), _b(("TaxRule", "uk", uk), ("TaxRule", "fr", more)))
    assert not pred.everything and pred.countries == [("FR", [])]



def test_the_shape_check_without_paths_agrees_with_the_one_that_names_them() -> None:
    """`shape_problem` checks every order quickly and names the field only for a problem: the
    two readings agree on every field pruning reads, for every wrong type."""
    from sandbox.prune import _fields, _well_shaped, shape_problem

    good = {"id": "O", "date": "2011-01-05", "currency": "GBP",
            "customer": {"id": "C", "country": "GB", "address": {"country": "GB"}},
            "coupons": ["X"], "attributes": {}, "lines": [{"sku": "A"}, {"sku": "B"}]}
    assert _well_shaped(good) and shape_problem(good) is None
    places: list[tuple[Any, ...]] = [
        ("currency",), ("customer",), ("customer", "country"), ("customer", "address"),
        ("customer", "address", "country"), ("coupons",), ("coupons", 0), ("attributes",),
        ("lines",), ("lines", 1), ("lines", 1, "sku")]
    for *steps, last in places:
        for wrong in (None, 7, True, "x", [], {}):
            order = copy.deepcopy(good)
            target: Any = order
            for step in steps:
                target = target[step]
            target[last] = wrong
            named = next((p for p, v, kind in _fields(order) if not isinstance(v, kind)), None)
            assert _well_shaped(order) == (named is None), (steps, last, wrong)
            problem = shape_problem(order)
            assert (problem is None) == (named is None)
            if named is not None:
                assert problem is not None and problem.startswith(f"{named}: expected")
