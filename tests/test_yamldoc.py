"""The policy YAML loader: exact numbers, no YAML 1.1 surprises, locations kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import BillplaneError
from engine.yamldoc import load_documents, location_of


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
