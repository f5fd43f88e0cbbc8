"""The policy YAML loader: exact numbers, no YAML 1.1 surprises, locations kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine import yamldoc
from engine.errors import BillplaneError
from engine.yamldoc import OversizedFile, load_documents, location_of, parse_documents


def test_numbers_are_exact_and_norway_stays_a_country() -> None:
    (doc,) = load_documents("p.yaml", b"a: 25.10\nb: NO\nc: 2025-01-01\nd: 7\ne: true\n")
    assert doc == {"a": Decimal("25.10"), "b": "NO", "c": "2025-01-01", "d": 7, "e": True}
    assert not isinstance(doc["a"], float)


def test_locations_point_at_keys_and_items() -> None:
    (doc,) = load_documents("p.yaml", b"spec:\n  items:\n    - x: 1\n    - y: 2\n")
    loc = location_of(doc, ["spec", "items", 1, "y"])
    assert (loc.file, loc.line, loc.column) == ("p.yaml", 4, 7)


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (b"a: 1\nb: 2\na: 3\n", "yaml_duplicate_key", 3),
        (b"a: [1,\n", "yaml_syntax", 2),
        (b"\x00\x01\x02", "binary_file", 0),
        (b"a: \xff\xfe\n", "encoding_error", 1),
        (b"a: !!python/object:os.system x\n", "yaml_unsupported", 1),
        (b"a: &x 1\n<<: {b: 2}\n", "yaml_unsupported", 2),
    ],
)
def test_bad_yaml_is_reported_with_code_and_line(text: bytes, code: str, line: int) -> None:
    with pytest.raises(BillplaneError) as info:
        load_documents("bad.yaml", text)
    diag = info.value.diagnostics[0]
    assert (diag.code, diag.location.file, diag.location.line) == (code, "bad.yaml", line)


def test_deep_nesting_is_refused() -> None:
    text = b"a: " + b"[" * 200 + b"]" * 200 + b"\n"
    with pytest.raises(BillplaneError) as info:
        load_documents("deep.yaml", text)
    assert info.value.code in {"yaml_too_deep", "yaml_syntax"}


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
def test_aliases_are_refused_without_expanding_them(
        fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not fast:
        monkeypatch.setattr(yamldoc, "_FAST", None)
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    docs, errors = parse_documents("bomb.yaml", ("\n".join(levels) + "\n").encode())
    assert docs == []
    assert [(d.code, d.location.line, d.location.column) for d in errors] == [
        ("yaml_alias", line, 10 if line < 11 else 12) for line in range(2, 13)]
    assert "*a0" in errors[0].message


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(BillplaneError) as info:
        load_documents("loop.yaml", b"a: &a [1, *a]\n")
    assert [(d.code, d.location.line, d.location.column) for d in info.value.diagnostics] == [
        ("yaml_alias", 1, 11)]


def test_an_anchor_without_alias_is_harmless() -> None:
    assert load_documents("a.yaml", b"a: &x 1\nb: 2\n") == [{"a": 1, "b": 2}]


def test_documents_before_a_syntax_error_are_kept() -> None:
    docs, errors = parse_documents("m.yaml", b"a: 1\n---\nb: &x [*x]\n---\nc: 3\n---\n: : :\n")
    assert docs == [{"a": 1}, {"c": 3}]  # the aliased document is left out
    assert [(d.code, d.location.line) for d in errors] == [("yaml_syntax", 7),
                                                           ("yaml_alias", 3)]


def test_non_utf8_byte_is_located_at_its_column() -> None:
    with pytest.raises(BillplaneError) as info:
        load_documents("l.yaml", b"a: 1\n  description: caf\xe9\n")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.location.line, diag.location.column) == ("encoding_error", 2, 19)
    assert "0xe9" in diag.message


def test_non_ascii_before_a_bad_byte_counts_as_one_column() -> None:
    with pytest.raises(BillplaneError) as info:
        load_documents("l.yaml", "a: éé".encode() + b"\xff\n")
    assert info.value.diagnostics[0].location.column == 6


def test_an_oversized_file_states_its_real_size_and_the_limit() -> None:
    with pytest.raises(BillplaneError) as info:
        load_documents("big.yaml", OversizedFile(52 * 1024 * 1024 + 12))
    (diag,) = info.value.diagnostics
    assert diag.code == "file_too_large"
    assert diag.message == ("file is 52.0 MiB (54,525,964 bytes); policy files are limited to "
                            "2.0 MiB (2,097,152 bytes)")


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "python"])
def test_documents_after_a_syntax_error_are_read(fast: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not fast:
        monkeypatch.setattr(yamldoc, "_FAST", None)
    text = b"a: 1\n---\nb: {x: 1\n---\nc: &x [*x]\n---\nd: [\n---\ne: 5\n"
    docs, errors = parse_documents("m.yaml", text)
    assert docs == [{"a": 1}, {"e": 5}]  # the aliased document is left out
    assert [(d.code, d.location.line) for d in errors] == [
        ("yaml_syntax", 4), ("yaml_syntax", 8), ("yaml_alias", 5)]
    (later,) = [d for d in docs if "e" in d]
    assert later.loc.line == 9  # at its own line in the file
