"""load_bundle: what a loaded bundle holds, and how errors are collected and placed."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from engine.errors import BillplaneError
from engine.loader import digest_of, load_bundle
from engine.scalarpos import position_in_scalar
from engine.yamldoc import load_documents, value_location

BASE = Path(__file__).resolve().parent / "cases" / "check" / "_base"


def _base() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(BASE.glob("*.yaml"))}


def _rule(name: str, priority: int | None = None, when: str = "true") -> str:
    prio = f"  priority: {priority}\n" if priority is not None else ""
    return (f"apiVersion: billplane.dev/v1\nkind: PricingRule\nmetadata:\n  name: {name}\n"
            f"spec:\n{prio}  when: \"{when}\"\n  effect: {{percent_off: 1}}\n---\n")


@pytest.mark.parametrize("backend", ["cel-expr", "cel-python"])
def test_base_tree_loads_on_both_backends(backend: str) -> None:
    bundle = load_bundle(_base(), revision="abc", backend=backend)
    assert bundle.revision == "abc" and bundle.backend == backend
    assert bundle.files == ("finance.yaml", "pricing.yaml", "tax.yaml", "tests.yaml")
    assert len(bundle.docs) == 10
    # six CEL fields in the base tree, each stored under (rule, field path)
    assert sorted(bundle.programs) == [
        ("enterprise-10", "spec.applies_to"), ("enterprise-10", "spec.when"),
        ("eu-b2b-vat-id", "spec.assert"), ("eu-b2b-vat-id", "spec.when"),
        ("ratable", "spec.applies_to"), ("uk-vat", "spec.applies_to")]
    assert bundle.program("eu-b2b-vat-id", "spec.assert").source == "customer.tax_id != ''"


def test_digest_is_sha256_over_sorted_path_and_content_hashes() -> None:
    files = {"b.yaml": b"two", "a.yaml": b"one"}
    expected = hashlib.sha256()
    for path, content in (("a.yaml", b"one"), ("b.yaml", b"two")):
        expected.update(f"{path}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    assert digest_of(files) == expected.hexdigest()
    assert digest_of({"a.yaml": b"one", "b.yaml": b"TWO"}) != digest_of(files)
    assert digest_of({"c.yaml": b"one", "b.yaml": b"two"}) != digest_of(files)


def test_by_kind_sorts_by_priority_then_name() -> None:
    text = _rule("zeta", 10) + _rule("alpha") + _rule("beta", 100) + _rule("gamma", 5)
    bundle = load_bundle({"r.yaml": text.encode()}, backend="cel-python")
    # alpha has the default priority 100, so it ties with beta and sorts by name
    assert [d.name for d in bundle.kind("PricingRule")] == ["gamma", "zeta", "alpha", "beta"]


def test_specs_are_plain_data_with_exact_numbers() -> None:
    bundle = load_bundle(_base(), backend="cel-python")
    spec = bundle.docs["core-prices"].spec
    assert type(spec) is dict and type(spec["products"]) is list
    price = spec["products"][0]["prices"][0]
    assert price["unit_amount"] == Decimal("25.00") and isinstance(price["unit_amount"], Decimal)
    assert price["effective"] == {"from": "2025-01-01", "until": "2026-01-01"}
    assert bundle.docs["core-prices"].owner == "revops"
    assert bundle.docs["uk-vat"].where == "tax.yaml:1"


def test_products_are_indexed_by_sku_with_their_book_and_place() -> None:
    bundle = load_bundle(_base(), backend="cel-python")
    assert set(bundle.products) == {"PLAT-SEAT", "API-CALLS"}
    seat = bundle.products["PLAT-SEAT"]
    assert (seat["_book"], seat["_where"], seat["type"]) == (
        "core-prices", "pricing.yaml:10", "subscription")
    assert bundle.products["API-CALLS"]["_where"] == "pricing.yaml:29"
    # and each price entry's first line, for the traces of the amounts it prices
    assert seat["_price_wheres"] == ["pricing.yaml:15", "pricing.yaml:19", "pricing.yaml:23"]
    assert bundle.products["API-CALLS"]["_price_wheres"] == ["pricing.yaml:32"]


def test_all_or_nothing_and_every_error_collected_sorted() -> None:
    files = _base()
    files["z.yaml"] = _rule("a-ok").encode() + b"kind: Bogus\n"
    files["a.yaml"] = b"a: [\n"
    with pytest.raises(BillplaneError) as info:
        load_bundle(files, backend="cel-python")
    got = [(d.location.file, d.code) for d in info.value.diagnostics]
    # the second z.yaml document lacks apiVersion and metadata (at its start, 9:1) and names
    # an unknown kind (at 9:7); nothing from the valid files is returned
    assert got == [("a.yaml", "yaml_syntax"), ("z.yaml", "missing_field"),
                   ("z.yaml", "missing_field"), ("z.yaml", "unknown_kind")]
    assert str(info.value).splitlines()[0].startswith("a.yaml:2:1: yaml_syntax:")


def test_same_expression_compiles_once_per_context() -> None:
    calls: list[tuple[str, str]] = []

    class Counting:
        name = "counting"

        def compile(self, expression: str, context: str, result: str = "bool") -> object:
            calls.append((expression, context))
            return object()

    text = "".join(_rule(f"r{i}", when="order.currency == 'GBP'") for i in range(50))
    bundle = load_bundle({"r.yaml": text.encode()}, backend=Counting())  # type: ignore[arg-type]
    assert calls == [("order.currency == 'GBP'", "order")]
    assert len(bundle.programs) == 50


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(BillplaneError) as info:
        load_bundle(_base(), backend="cel-rust")
    assert info.value.code == "unknown_backend"


def test_folded_scalar_positions_map_through_the_folding() -> None:
    text = ("spec:\n  when: >\n    order.currency == 'GBP' &&\n"
            "    order.customer.contry == 'GB'\n")
    (doc,) = load_documents("f.yaml", text.encode())
    loc, style = value_location(doc, ["spec", "when"])  # type: ignore[misc]
    assert style == ">"
    expr = doc["spec"]["when"]
    column = expr.index("contry") + 1  # 43: the folded line break became one space
    where = position_in_scalar(text, loc, style, 1, column)
    # 'contry' is on file line 4, after 4 spaces of indentation and 'order.customer.'
    assert (where.line, where.column) == (4, 20)


def test_single_quoted_scalar_positions() -> None:
    text = "when: 'a == b'\n"
    (doc,) = load_documents("q.yaml", text.encode())
    loc, style = value_location(doc, ["when"])  # type: ignore[misc]
    assert (style, loc.column) == ("'", 7)
    # the quote is column 7, so expression column 6 ('b') is file column 13
    assert position_in_scalar(text, loc, style, 1, 6).column == 13


def _where(text: str, path: list[str | int], target: str) -> tuple[int, int]:
    """File line and column of `target` inside the scalar at `path`, mapped back from its value."""
    (doc,) = load_documents("e.yaml", text.encode())
    loc, style = value_location(doc, path)  # type: ignore[misc]
    value: str = doc[path[0]]
    before = value[: value.index(target)]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    where = position_in_scalar(text, loc, style, line, column)
    return where.line, where.column


@pytest.mark.parametrize(("scalar", "column"), [
    (r'"a \"q\" b X"', 15),  # \" is two characters in the file, one in the value
    (r'"tab\there X"', 15),
    (r'"\u00e9\U0001F600\x41 X"', 26),
    (r'"\\ X"', 8),
    ("'it''s X'", 11),
    ("plain text X", 15),
    ('"é😀 X"', 8),  # columns count characters, not bytes
])
def test_single_line_scalar_positions_follow_escapes(scalar: str, column: int) -> None:
    assert _where(f"k: {scalar}\n", ["k"], "X") == (1, column)


def test_multi_line_double_quoted_scalars_fold_as_yaml_does() -> None:
    text = 'k: "one\n    two \\\n  three\n\n    four X"\n'
    # a break folds to a space, an escaped one (after the kept "two ") to nothing, an empty
    # line is a line break
    (doc,) = load_documents("e.yaml", text.encode())
    assert doc["k"] == "one two three\nfour X"
    assert _where(text, ["k"], "three") == (3, 3)
    assert _where(text, ["k"], "X") == (5, 10)


def test_a_position_just_past_the_value_maps_after_it() -> None:
    text = 'k: "a\\tb"\n'
    (doc,) = load_documents("e.yaml", text.encode())
    loc, style = value_location(doc, ["k"])  # type: ignore[misc]
    assert position_in_scalar(text, loc, style, 1, 4).column == 9  # after the 'b' at 8


def _messages(text: str) -> list[str]:
    with pytest.raises(BillplaneError) as info:
        load_bundle({"x.yaml": text.encode()}, backend="cel-expr")
    return [f"{d.code}: {d.message}" for d in info.value.diagnostics]


def test_a_missing_list_is_said_to_be_null_once() -> None:
    text = ("apiVersion: billplane.dev/v1\nkind: TaxRule\nmetadata: {name: t}\n"
            "spec:\n  tax: vat\n  jurisdiction: {country: GB}\n  rates:\n")
    assert _messages(text) == ["wrong_type: spec.rates: expected array, got null"]


def test_a_number_too_long_for_an_int_is_refused_with_a_message() -> None:
    text = ("apiVersion: billplane.dev/v1\nkind: CreditPolicy\nmetadata: {name: c}\n"
            "spec:\n  priority: 1" + "0" * 5000 + "\n  terms: {net_days: 30}\n")
    found = _messages(text)
    assert [m.split(":")[0] for m in found] == ["schema_error", "wrong_type"]
    assert found[1].startswith("wrong_type: spec.priority: expected integer, got number 1000")
    assert found[1].endswith("\u2026") and len(found[1]) < 200


def test_a_value_ending_in_a_newline_does_not_match_its_pattern() -> None:
    # a literal block keeps its final newline; JSON Schema's `$` does not match before it
    text = ("apiVersion: billplane.dev/v1\nkind: TaxRule\nmetadata: {name: t}\n"
            "spec:\n  tax: vat\n  jurisdiction:\n    country: |\n      GB\n"
            "  rates: [{rate: 20, effective: {from: 2020-01-01}}]\n")
    found = _messages(text)
    assert len(found) == 1 and found[0].startswith("schema_error: spec.jurisdiction.country: ")
