"""Static limits work on tokens: strings and comments never count as structure."""

from __future__ import annotations

import pytest

from engine.cel import CelCompileError
from engine.cel.limits import MAX_DEPTH, check, tokens


def test_tokens_skip_comments_and_keep_strings_whole() -> None:
    toks = tokens("a.exists(x, x == ')(') // map(\n  && b")
    assert [t.text for t in toks] == ["a", ".", "exists", "(", "x", ",", "x", "==", "')('", ")",
                                      "&&", "b"]
    assert (toks[-1].line, toks[-1].column) == (2, 6)
    assert tokens("r'a\\'' + '''x\ny'''")[-1].kind == "string"


def test_brackets_inside_strings_and_comments_do_not_nest() -> None:
    check("customer.id == '" + "(" * 100 + "' // " + "[" * 100)


def test_depth_limit_is_exact() -> None:
    check("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH + " == 1")
    with pytest.raises(CelCompileError) as info:
        check("1 == " + "[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1))
    assert (info.value.code, info.value.column) == ("cel_too_large", 6 + MAX_DEPTH)


def test_two_nested_comprehensions_are_allowed_three_are_not() -> None:
    check("customer.exemptions.exists(e, order.coupons.exists(c, c == e))")
    with pytest.raises(CelCompileError) as info:
        check("order.coupons.all(a, order.coupons.all(b,\n order.coupons.all(c, a == c)))")
    # the third comprehension's name: line 2, " order.coupons." is 15 characters
    assert (info.value.code, info.value.line, info.value.column) == ("cel_too_costly", 2, 16)


def test_macro_names_used_as_fields_are_not_comprehensions() -> None:
    check("order.attributes.map == 'x' && all(1) && exists")


def test_cost_multiplies_with_nesting() -> None:
    # 20 exemptions x 1000 lines x ~8 body tokens: within the budget
    check("customer.exemptions.exists(e, order.lines.exists(l, l.sku == e && l.units > 1))")
    # 1000 x 1000 x ~8: over the budget
    with pytest.raises(CelCompileError) as info:
        check("order.lines.exists(x, order.lines.exists(l, l.sku == x.sku && l.units > 1))")
    assert info.value.code == "cel_too_costly"
    assert "budget" in info.value.message


def test_unbalanced_brackets_are_left_to_the_parser() -> None:
    check("(((customer.id")
