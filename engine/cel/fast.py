"""Simple CEL conditions compiled to Python over the CEL views, next to the CEL runtime.

Most policy conditions are field comparisons (`line.sku == 'SEAT'`, `customer.segment in
[...]`). Handing the order to the CEL runtime costs far more than computing such a condition,
so expressions made only of the operations below are also compiled to one Python expression
over the plain-dict views of `engine.context` (whose fields always have their declared types):

    field selection, literals (string without escapes, int, bool), list literals, ==, !=,
    <, <=, >, >= on ints and strings, `in` on lists and maps, &&, ||, !, ?:, int + - *,
    string +, map and list indexing, size(), startsWith(), endsWith(), contains()

Every operation gives exactly CEL's value or raises `Fallback` (a missing map key, an index
out of range, an int overflow: where CEL would give an error or absorb one), and the caller
then evaluates the expression with the CEL runtime, which decides. Anything else (macros,
has(), doubles, uints, regexes, timestamps) is not compiled here at all. The expression has
already been parsed and type-checked by the CEL checker; this only decides how it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from engine.cel.types import CONTEXTS, MESSAGES

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_VARS = {"order": "o", "line": "l", "customer": "c", "invoice": "i"}
_RESULTS = {"bool": "bool", "string": "string", "int": "int"}

Compiled = Callable[[Any, Any, Any, Any], Any]
"""fn(order_view, line_view, customer_view, invoice_view) -> value, or raises Fallback."""


class Fallback(Exception):
    """The value is not decided here: evaluate the expression with the CEL runtime."""


class Unsupported(Exception):
    """The expression uses something outside the compiled subset."""


def _idx(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except KeyError:
        raise Fallback from None


def _lidx(items: Any, k: Any) -> Any:
    if type(k) is not int or not 0 <= k < len(items):
        raise Fallback
    return items[k]


def _int(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise Fallback
    return value


_HELPERS = {"_idx": _idx, "_lidx": _lidx, "_int": _int}


@lru_cache(maxsize=1)
def _parser() -> Any:
    from celpy.celparser import CELParser

    return CELParser()


def compile_fast(source: str, context: str, result: str = "bool") -> Compiled | None:
    """The Python form of `source`, or None when it uses anything outside the subset."""
    try:
        tree = _parser().parse(source)
        code, kind = _Compiler(context).node(tree)
    except Unsupported:
        return None
    except Exception:  # noqa: BLE001 - anything the parser refuses stays with the runtime
        return None
    if kind != _RESULTS.get(result, ""):
        return None
    namespace: dict[str, Any] = dict(_HELPERS)
    fn: Compiled = eval(  # noqa: S307 - built from a checked parse tree; literals are repr()s
        compile(f"lambda o, l, c, i: ({code})", "<cel-fast>", "eval"), namespace)
    fn.source = source  # type: ignore[attr-defined]
    return fn


class _Compiler:
    """Parse tree -> (Python expression, CEL type) for the subset; Unsupported otherwise."""

    def __init__(self, context: str) -> None:
        self.variables = CONTEXTS[context]
        self.constants = 0

    def node(self, tree: Any) -> tuple[str, str]:
        handler = getattr(self, "_" + str(tree.data), None)
        if handler is None:
            raise Unsupported(str(tree.data))
        result: tuple[str, str] = handler(tree.children)
        return result

    # --- precedence levels: one child passes through, more children are an operator ---------

    def _expr(self, kids: list[Any]) -> tuple[str, str]:
        kids = [k for k in kids if k is not None]
        if len(kids) == 1:
            return self.node(kids[0])
        (cond, ck), (yes, yk), (no, nk) = (self.node(k) for k in kids)
        if ck != "bool" or yk != nk:
            raise Unsupported("ternary")
        return f"(({yes}) if ({cond}) else ({no}))", yk

    def _logical(self, kids: list[Any], word: str) -> tuple[str, str]:
        kids = [k for k in kids if k is not None]
        if len(kids) == 1:
            return self.node(kids[0])
        (left, lk), (right, rk) = self.node(kids[0]), self.node(kids[1])
        if lk != "bool" or rk != "bool":
            raise Unsupported(word)
        return f"(({left}) {word} ({right}))", "bool"

    def _conditionalor(self, kids: list[Any]) -> tuple[str, str]:
        return self._logical(kids, "or")

    def _conditionaland(self, kids: list[Any]) -> tuple[str, str]:
        return self._logical(kids, "and")

    def _relation(self, kids: list[Any]) -> tuple[str, str]:
        kids = [k for k in kids if k is not None]
        if len(kids) == 1:
            return self.node(kids[0])
        op_node, right_tree = kids
        op = str(op_node.data)
        left, lk = self.node(op_node.children[0])
        right, rk = self.node(right_tree)
        if op == "relation_in":
            if rk.startswith("list<") and rk[5:-1] == lk and lk in ("string", "int", "bool"):
                return f"(({left}) in ({right}))", "bool"
            if rk.startswith("map<") and rk[4:-1].split(",")[0] == lk:
                return f"(({left}) in ({right}))", "bool"
            raise Unsupported("in")
        symbol = {"relation_eq": "==", "relation_ne": "!=", "relation_lt": "<",
                  "relation_le": "<=", "relation_gt": ">", "relation_ge": ">="}[op]
        allowed = ("string", "int", "bool") if symbol in ("==", "!=") else ("string", "int")
        if lk != rk or lk not in allowed:
            raise Unsupported(symbol)
        return f"(({left}) {symbol} ({right}))", "bool"

    def _addition(self, kids: list[Any]) -> tuple[str, str]:
        return self._arithmetic(kids, {"addition_add": "+", "addition_sub": "-"})

    def _multiplication(self, kids: list[Any]) -> tuple[str, str]:
        return self._arithmetic(kids, {"multiplication_mul": "*"})

    def _arithmetic(self, kids: list[Any], symbols: dict[str, str]) -> tuple[str, str]:
        kids = [k for k in kids if k is not None]
        if len(kids) == 1:
            return self.node(kids[0])
        op_node, right_tree = kids
        symbol = symbols.get(str(op_node.data))
        if symbol is None:
            raise Unsupported(str(op_node.data))  # / and %: truncation and zero division
        (left, lk), (right, rk) = self.node(op_node.children[0]), self.node(right_tree)
        if lk == rk == "int":
            return f"_int(({left}) {symbol} ({right}))", "int"
        if lk == rk == "string" and symbol == "+":
            return f"(({left}) + ({right}))", "string"
        raise Unsupported(symbol)

    def _unary(self, kids: list[Any]) -> tuple[str, str]:
        if len(kids) == 1:
            return self.node(kids[0])
        op, operand = kids
        code, kind = self.node(operand)
        if str(op.data) == "unary_not" and kind == "bool":
            return f"(not ({code}))", "bool"
        if str(op.data) == "unary_neg" and kind == "int":
            return f"_int(-({code}))", "int"
        raise Unsupported("unary")

    def _member(self, kids: list[Any]) -> tuple[str, str]:
        return self.node(kids[0])

    def _primary(self, kids: list[Any]) -> tuple[str, str]:
        return self.node(kids[0])

    def _paren_expr(self, kids: list[Any]) -> tuple[str, str]:
        return self.node(kids[0])

    # --- names, fields, indexes, calls ------------------------------------------------------

    def _ident(self, kids: list[Any]) -> tuple[str, str]:
        name = str(kids[0])
        if name not in self.variables:
            raise Unsupported(name)
        return _VARS[name], self.variables[name]

    def _member_dot(self, kids: list[Any]) -> tuple[str, str]:
        target, kind = self.node(kids[0])
        name = str(kids[1])
        if kind in MESSAGES:
            for field, field_kind in MESSAGES[kind]:
                if field == name:
                    return f"{target}[{name!r}]", field_kind
            raise Unsupported(name)
        if kind.startswith("map<string,"):
            return f"_idx({target}, {name!r})", kind[4:-1].split(",")[1]
        raise Unsupported(name)

    def _member_index(self, kids: list[Any]) -> tuple[str, str]:
        (target, kind), (key, key_kind) = self.node(kids[0]), self.node(kids[1])
        if kind.startswith("map<"):
            key_type, value_type = kind[4:-1].split(",")
            if key_kind == key_type:
                return f"_idx({target}, {key})", value_type
        elif kind.startswith("list<") and key_kind == "int":
            return f"_lidx({target}, {key})", kind[5:-1]
        raise Unsupported("index")

    def _member_dot_arg(self, kids: list[Any]) -> tuple[str, str]:
        target, kind = self.node(kids[0])
        name = str(kids[1])
        args = self._args(kids[2] if len(kids) > 2 else None)
        if name == "size" and not args:
            return self._size(target, kind)
        if kind == "string" and len(args) == 1 and args[0][1] == "string":
            arg = args[0][0]
            if name == "startsWith":
                return f"({target}).startswith({arg})", "bool"
            if name == "endsWith":
                return f"({target}).endswith({arg})", "bool"
            if name == "contains":
                return f"(({arg}) in ({target}))", "bool"
        raise Unsupported(name)

    def _ident_arg(self, kids: list[Any]) -> tuple[str, str]:
        name = str(kids[0])
        args = self._args(kids[1] if len(kids) > 1 else None)
        if name == "size" and len(args) == 1:
            return self._size(*args[0])
        raise Unsupported(name)  # has(), int(), string(), ...

    def _size(self, code: str, kind: str) -> tuple[str, str]:
        if kind == "string" or kind.startswith(("list<", "map<")):
            return f"len({code})", "int"
        raise Unsupported("size")

    def _args(self, exprlist: Any) -> list[tuple[str, str]]:
        if exprlist is None:
            return []
        return [self.node(k) for k in exprlist.children]

    # --- literals ---------------------------------------------------------------------------

    def _list_lit(self, kids: list[Any]) -> tuple[str, str]:
        items = self._args(kids[0] if kids else None)
        kinds = {k for _, k in items}
        if len(kinds) != 1 or next(iter(kinds)) not in ("string", "int", "bool"):
            raise Unsupported("list")
        kind = kinds.pop()
        return "(" + "".join(f"{code}, " for code, _ in items) + ")", f"list<{kind}>"

    def _literal(self, kids: list[Any]) -> tuple[str, str]:
        token = kids[0]
        text = str(token)
        kind = token.type
        if kind == "BOOL_LIT":
            return ("True" if text == "true" else "False"), "bool"
        if kind == "INT_LIT" and text.lstrip("-").isdigit():
            value = int(text)
            if not INT_MIN <= value <= INT_MAX:
                raise Unsupported("int range")
            return repr(value), "int"
        if kind == "STRING_LIT" and text[:1] in "'\"" and "\\" not in text:
            return repr(text[1:-1]), "string"
        raise Unsupported(kind)
