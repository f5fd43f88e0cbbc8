"""Ambiguous first-match rules: only what the engine would pick between by name is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.ambiguity import ambiguous_rules
from engine.checks import SourceDoc
from engine.yamldoc import load_documents

UK = {"tax": "vat", "jurisdiction": {"country": "GB"},
      "rates": [{"rate": 20, "effective": {"from": "2011-01-04"}}]}


def _doc(kind: str, name: str, spec: dict[str, Any]) -> SourceDoc:
    text = json.dumps({"apiVersion": "billplane.dev/v1", "kind": kind,
                       "metadata": {"name": name}, "spec": spec})
    (raw,) = load_documents(f"{name}.yaml", text.encode())
    return SourceDoc(f"{name}.yaml", kind, name, raw)


def _ambiguous(kind: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    found = ambiguous_rules([_doc(kind, "first", a), _doc(kind, "second", b)])
    return [d.rule for d in found]


@pytest.mark.parametrize(("change", "ambiguous"), [
    ({}, True),
    ({"tax": "gst"}, False),  # another kind of tax: both apply
    ({"seller": "acme-uk"}, True),  # a rule for every seller meets one for acme-uk
    ({"applies_to": "line.product_type == 'service'"}, False),  # conditions differ
    ({"jurisdiction": {"country": "IE"}}, False),
    ({"jurisdiction": {"country": "GB", "region": "SCT"}}, False),  # more specific: it wins
    ({"jurisdiction": {"country": "GB", "postcodes": {"exclude": ["BT*"]}}}, True),
    ({"rates": [{"rate": 17.5, "effective": {"until": "2011-01-04"}}]}, False),  # dates apart
    ({"rates": [{"rate": 17.5, "effective": {"until": "2011-01-05"}}]}, True),  # one day
    ({"rates": [{"rate": 17.5, "effective": {"until": "2011-02-30"}}]}, False),  # invalid
])
def test_tax_rules_tie_only_where_the_engine_would_choose_by_name(
        change: dict[str, Any], ambiguous: bool) -> None:
    assert _ambiguous("TaxRule", UK, {**UK, **change}) == (["first", "second"] if ambiguous
                                                          else [])


def test_tax_rules_of_two_sellers_do_not_tie() -> None:
    assert _ambiguous("TaxRule", {**UK, "seller": "acme-uk"}, {**UK, "seller": "acme-ie"}) == []


@pytest.mark.parametrize(("a", "b", "ambiguous"), [
    (["BT*"], ["BT*"], True),
    (["BT*"], ["BT1*"], True),
    (["BT1 1AA"], ["BT*"], True),
    (["BT*"], ["GY*"], False),
    (["BT1 1AA"], ["BT1 1AB"], False),
])
def test_postcode_rules_tie_when_their_patterns_meet(a: list[str], b: list[str],
                                                     ambiguous: bool) -> None:
    def rule(include: list[str]) -> dict[str, Any]:
        return {**UK, "jurisdiction": {"country": "GB", "postcodes": {"include": include}}}

    assert bool(_ambiguous("TaxRule", rule(a), rule(b))) is ambiguous


def test_a_postcode_rule_excluded_by_the_other_does_not_tie() -> None:
    a = {**UK, "jurisdiction": {"country": "GB", "postcodes": {"include": ["BT1*"]}}}
    b = {**UK, "jurisdiction": {"country": "GB",
                                "postcodes": {"include": ["B*"], "exclude": ["BT*"]}}}
    assert _ambiguous("TaxRule", a, b) == []


@pytest.mark.parametrize(("kind", "a", "b", "ambiguous"), [
    ("CreditPolicy", {"terms": {"net_days": 30}}, {"terms": {"net_days": 45}}, True),
    ("CreditPolicy", {"priority": 10, "terms": {"net_days": 30}}, {"terms": {"net_days": 45}},
     False),
    ("CreditPolicy", {"when": "customer.segment == 'smb'"},
     {"when": "customer.segment  ==  'smb'"}, True),  # the same condition, spaced apart
    ("CreditPolicy", {"when": "customer.segment == 'smb'"}, {}, False),
    ("RecognitionRule", {"method": "point_in_time"}, {"method": "ratable_daily"}, True),
    ("RecognitionRule", {"method": "point_in_time", "applies_to": "line.units > 1"},
     {"method": "ratable_daily"}, False),
    ("InvoiceSeries", {"seller": "s", "when": "order.currency == 'GBP'"},
     {"seller": "s", "when": "order.currency == 'GBP'"}, True),
    ("InvoiceSeries", {"seller": "s", "when": "order.currency == 'GBP'"},
     {"seller": "t", "when": "order.currency == 'GBP'"}, False),
    ("InvoiceSeries", {"seller": "s"}, {"seller": "s"}, False),  # duplicate_default_series
])
def test_first_match_kinds_tie_on_priority_and_the_same_condition(
        kind: str, a: dict[str, Any], b: dict[str, Any], ambiguous: bool) -> None:
    assert bool(_ambiguous(kind, a, b)) is ambiguous


def test_both_rules_are_reported_each_naming_the_other() -> None:
    found = list(ambiguous_rules([_doc("TaxRule", "b-vat", UK), _doc("TaxRule", "a-vat", UK)]))
    assert [(d.rule, d.location.file, d.code) for d in found] == [
        ("b-vat", "b-vat.yaml", "ambiguous_rules"), ("a-vat", "a-vat.yaml", "ambiguous_rules")]
    assert "a-vat (at a-vat.yaml:1:" in found[0].message
    assert "would apply a-vat only because of its name" in found[0].message
