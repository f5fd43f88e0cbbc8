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
    # 20 coupons x 20 exemptions x ~8 body tokens: within the budgets
    check("order.coupons.exists(c, customer.exemptions.exists(e, e == c && c != ''))")
    # 1000 x 1000 iterations: over the budget, reported at the outer comprehension
    with pytest.raises(CelCompileError) as info:
        check("order.lines.exists(x, order.lines.exists(l, l.sku == x.sku && l.units > 1))")
    assert (info.value.code, info.value.column) == ("cel_too_costly", 13)
    assert "budget" in info.value.message


def test_iterations_stay_within_the_runtime_budget() -> None:
    # 20 exemptions x 1,000 lines: 20,020 iterations, more than an evaluation may make
    with pytest.raises(CelCompileError) as info:
        check("customer.exemptions.exists(e, order.lines.exists(l, l.sku == e))")
    assert (info.value.code, info.value.column) == ("cel_too_costly", 21)
    assert "20,020" in info.value.message and "x in list" in info.value.message
    # the same question without the inner loop
    check("order.lines.exists(l, l.sku in customer.exemptions)")


def _zeros(n: int) -> str:
    return "[" + ",".join(["0"] * n) + "]"


def test_literal_lists_count_their_elements() -> None:
    # a literal of 1,000 zeros walked inside a walk over itself: 1,001,000 iterations
    big = _zeros(1000)
    with pytest.raises(CelCompileError) as info:
        check(f"{big}.all(x, {big}.all(y, customer.name.size() + x + y >= 0))")
    assert (info.value.code, info.value.column) == ("cel_too_costly", len(big) + 2)
    check(f"{_zeros(99)}.all(x, {_zeros(100)}.all(y, x + y >= 0))")  # 9,999 iterations
    with pytest.raises(CelCompileError):
        check(f"{_zeros(100)}.all(x, {_zeros(99)}.all(y, x + y >= 0))")  # 10,000
    check("{'a': 1, 'b': 2}.all(k, k != '') && [].all(x, x == 1)")


def test_the_static_iteration_bound_is_the_runtimes() -> None:
    cpp = pytest.importorskip("engine.cel.cpp")
    act = cpp.eval_env().Activation({"order": {}, "customer": {"name": "a"}})
    largest = f"{_zeros(99)}.all(x, {_zeros(100)}.all(y, x + y >= 0))"
    check(largest)
    assert cpp.eval_env().compile(largest).eval(act).plain_value() is True
    smallest = f"{_zeros(100)}.all(x, {_zeros(99)}.all(y, x + y >= 0))"
    with pytest.raises(RuntimeError, match="budget"):
        cpp.eval_env().compile(smallest).eval(act)


def test_lists_made_by_map_and_filter_keep_their_bound() -> None:
    check("order.lines.map(l, l.units).exists(u, u == 10)")  # 2,000 iterations
    with pytest.raises(CelCompileError) as info:
        check("order.lines.filter(l, l.units > 1).exists(l, order.coupons.exists(c, c == l.sku))")
    assert (info.value.code, info.value.column) == ("cel_too_costly", 36)


def test_lists_of_unknown_size_count_every_list_in_the_expression() -> None:
    # a group, an index or a comprehension variable may hold any of the expression's lists
    with pytest.raises(CelCompileError):
        check("(order.lines + order.lines).exists(x, order.coupons.exists(c, c == x.sku))")
    small = _zeros(10)
    with pytest.raises(CelCompileError):
        check(f"{small}.map(x, order.lines).all(lines, lines.all(y, y.units > x))")
    check(f"{small}.map(x, {small}).all(v, v.all(y, y >= 0))")  # 10 + 10 x 20


def test_long_operator_chains_count_as_nesting() -> None:
    # the parser nests `a + b + c` as `(a + b) + c`: 29 additions and a comparison are fine
    check("order.subtotal_minor" + " + 1" * 29 + " > 0")
    expression = "order.subtotal_minor" + " + 1" * 40 + " > 0"
    with pytest.raises(CelCompileError) as info:
        check(expression)
    # the 31st '+' (the '.' counts too) is the 33rd level
    assert (info.value.code, info.value.column) == ("cel_too_large", 22 + 4 * 30)
    check(" && ".join(["order.subtotal_minor > 0"] * 60))  # `&&` chains are balanced


def test_unbalanced_brackets_are_left_to_the_parser() -> None:
    check("(((customer.id")
