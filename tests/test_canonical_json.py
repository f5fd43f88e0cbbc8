"""Canonical JSON: sorted keys, no spaces, UTF-8, byte for byte what json.dumps writes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.invoice import canonical


def reference(value: Any) -> bytes:
    """The definition (docs/invoice.md): json.dumps with sorted keys and compact separators."""
    def plain(v: Any) -> Any:
        return f"{v:f}" if isinstance(v, Decimal) else v.isoformat()

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=plain).encode("utf-8")


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
scalars = (texts | st.none() | st.booleans()
           | st.integers(min_value=-2**63, max_value=2**64 - 1))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(texts, inner, max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(values)
def test_canonical_bytes_are_the_reference_bytes(value: Any) -> None:
    assert canonical(value) == reference(value)


def test_control_characters_quotes_and_non_ascii() -> None:
    value = {"b": "a\x00\x1f\x7f\u2028é\"\\\n\t😀", "a": [None, True, -1]}
    assert canonical(value) == (
        '{"a":[null,true,-1],"b":"a\\u0000\\u001f\x7f\u2028é\\"\\\\\\n\\t😀"}'.encode())


def test_decimals_and_dates_become_strings() -> None:
    value = {"amount": Decimal("1E+2"), "day": dt.date(2026, 3, 1), "n": Decimal("0.10")}
    assert canonical(value) == b'{"amount":"100","day":"2026-03-01","n":"0.10"}'


def test_what_the_fast_writer_refuses_is_still_written() -> None:
    # non-string keys and integers beyond 64 bits take the reference path
    assert canonical({2: "x", 1: "y"}) == b'{"1":"y","2":"x"}'
    assert canonical({"a": 2**70}) == b'{"a":1180591620717411303424}'


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical({"s": "\ud800"})
