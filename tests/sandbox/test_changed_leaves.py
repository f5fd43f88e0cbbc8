"""The document comparison skips equal parts: it must find what a leaf-by-leaf walk finds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.facts import changed_leaves, difference, leaves, same

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3),
                    st.sampled_from(["20", "20.0", "19", "0.00", "-0.00", "2011-06-01",
                                     "2011-07-01", "a", ""]))
keys = st.sampled_from(["lines", "tax", "amount", "rate", "net", "period", "x"])
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=25)
documents = st.dictionaries(keys, json_values, max_size=5)


def reference(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Every leaf of both documents, compared one by one."""
    b, h = leaves(base), leaves(head)
    out = {}
    for path in sorted(set(b) | set(h)):
        bv, hv = b.get(path), h.get(path)
        if not same(bv, hv):
            out[path] = [bv, hv, difference(bv, hv)]
    return out


@settings(max_examples=400, deadline=None)
@given(documents, documents)
def test_changed_leaves_are_those_of_a_full_walk(base: dict[str, Any],
                                                 head: dict[str, Any]) -> None:
    got = changed_leaves(base, head)
    assert got == reference(base, head)
    assert list(got) == sorted(got)


@settings(max_examples=200, deadline=None)
@given(documents, st.data())
def test_an_edit_deep_inside_is_found(base: dict[str, Any], data: st.DataObject) -> None:
    # a document and a copy with one leaf changed (most of it equal, as in a replay)
    paths = list(leaves(base))
    head = {"lines": [base, {"rate": "20"}], "net": "1.00"}
    edited = {"lines": [base, {"rate": data.draw(scalars)}], "net": "1.00"}
    assert changed_leaves(head, edited) == reference(head, edited)
    assert all(not p.startswith("lines[0]") for p in changed_leaves(head, edited))
    assert paths == list(leaves(base))


def test_shapes_and_absent_parts() -> None:
    base = {"a": {}, "b": [1, 2], "c": {"d": "1.0"}, "e": None}
    head = {"a": {"x": 1}, "b": [1], "c": {"d": "1"}, "f": "2"}
    assert changed_leaves(base, head) == {
        "a": [{}, None, ""], "a.x": [None, 1, "1"], "b[1]": [2, None, "-2"],
        "f": [None, "2", "2"]}
