"""The example policy repository loads cleanly and its policy tests pass on both CEL backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.sources import DirectorySource, load_from
from engine.bundle import Bundle
from engine.testing import render_text, run_policy_tests

POLICIES = Path(__file__).resolve().parent.parent / "policies"
BACKENDS = ["cel-expr", "cel-python"]


@pytest.fixture(scope="module", params=BACKENDS)
def bundle(request: pytest.FixtureRequest) -> Bundle:
    return load_from(DirectorySource(POLICIES), backend=request.param)


def test_every_policy_test_passes_with_full_rule_coverage(bundle: Bundle) -> None:
    report = run_policy_tests(bundle, backend=bundle.backend)
    assert report.ok, render_text(report)
    assert len(report.cases) >= 25
    assert report.coverage.unexercised() == {}, render_text(report)


def test_cases_assert_something(bundle: Bundle) -> None:
    for doc in bundle.kind("PolicyTest"):
        for case in doc.spec["cases"]:
            assert case.get("expect") or case.get("expect_error"), (doc.name, case["name"])


def test_the_repository_has_every_kind_of_policy(bundle: Bundle) -> None:
    kinds = bundle.manifest()["kinds"]
    for kind in ("PriceBook", "PricingRule", "TaxRule", "CreditPolicy", "RecognitionRule",
                 "ValidationRule", "InvoiceSeries", "Ownership", "PolicyTest"):
        assert kinds.get(kind), kind
    models = {price["model"] for product in bundle.products.values()
              for price in product["prices"]}
    assert models == {"flat", "per_unit", "graduated", "volume", "package", "percentage"}


def test_uk_vat_history_is_the_published_one(bundle: Bundle) -> None:
    # HMRC standard rate: 17.5% from 1991-04-01, 15% 2008-12-01..2009-12-31,
    # 17.5% 2010-01-01..2011-01-03, 20% from 2011-01-04 (until is exclusive)
    rates = [(str(r["rate"]), r["effective"].get("from"), r["effective"].get("until"))
             for r in bundle.docs["uk-vat"].spec["rates"]]
    assert rates == [("17.5", "1991-04-01", "2008-12-01"), ("15", "2008-12-01", "2010-01-01"),
                     ("17.5", "2010-01-01", "2011-01-04"), ("20", "2011-01-04", None)]


def test_tax_sources_are_attributed() -> None:
    sources = (POLICIES / "tax" / "SOURCES.md").read_text()
    for name in ("kdeldycke/vat-rates", "commerceguys/tax", "ibericode/vat-rates"):
        assert name in sources
    licences = sorted(p.name for p in (POLICIES / "tax" / "licenses").iterdir())
    assert licences == ["commerceguys-tax.LICENSE", "ibericode-vat-rates.LICENSE",
                        "kdeldycke-vat-rates.LICENSE.md"]
