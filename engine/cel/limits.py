"""Static bounds on a CEL expression, so that no policy can hang the service.

In the spirit of the Kubernetes CEL cost budget, but checked before compiling, on a token stream
(strings and comments skipped; no parser needed): length, nesting depth, nested
comprehensions, the worst-case number of comprehension iterations and an estimated worst-case
cost. Every list a comprehension walks gets a worst-case size: the order model's bound for a
field (`order.lines` 1,000, see LIST_BOUNDS), the element count of a literal, the size of the
list a `map`/`filter` walked; any other list (a group, an index, a variable) may be as large as
every list in the expression put together. Nested comprehensions multiply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.cel.backend import CelCompileError
from engine.cel.types import LIST_BOUNDS

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_COMPREHENSION_NESTING = 2
# cel-expr-python stops an evaluation at its 10,000th comprehension iteration; refusing more at
# check time means a checked policy never meets that limit, and bounds cel-python (which has
# no limit of its own) as tightly
ITERATION_BUDGET = 10_000
COST_BUDGET = 1_000_000
MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
# macros that build a list grow it one element at a time: quadratic in the runtimes we use
ACCUMULATING = frozenset({"map", "filter"})
# binary operators nest their left operand one level deeper in the syntax tree (`a + b + c` is
# `(a + b) + c`); `&&` and `||` are not counted: the parser balances their chains
_CHAINING = frozenset({"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "?", ".", "in"})

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>//[^\n]*)
      | (?P<string>[rRbB]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
                   |'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
      | (?P<number>(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[uU]?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One lexical token: kind (`string`, `number`, `ident`, `op`), text, line, column."""

    kind: str
    text: str
    line: int
    column: int


def tokens(expression: str) -> list[Token]:
    """Split an expression into tokens; whitespace and comments are dropped."""
    out: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None:  # an unknown character: the parser reports it with a better message
            out.append(Token("other", expression[pos], line, pos - line_start + 1))
            pos += 1
            continue
        kind = m.lastgroup or "other"
        text = m.group()
        if kind not in ("space", "comment"):
            out.append(Token(kind, text, line, pos - line_start + 1))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = m.end()
    return out


def _position(expression: str, offset: int) -> tuple[int, int]:
    before = expression[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


@dataclass
class _Frame:
    """An open bracket; for a macro call, the comprehension it opens and its running cost."""

    token: Token
    base: int = 0  # nesting level of the bracket itself
    chain: int = 0  # binary operators so far inside it (each nests its left side)
    macro: str = ""
    bound: int = 1
    cost: int = 0
    iterations: int = 0


class _Lists:
    """Worst-case sizes of the lists in an expression, worked out from its brackets."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.partner: dict[int, int] = {}  # bracket index <-> its matching bracket's index
        self.literal: dict[int, int] = {}  # index of a list/map literal's opening -> elements
        self.walked: dict[int, int] = {}  # index of a map/filter call's '(' -> its list's bound
        opened: list[tuple[int, int]] = []  # (index, top-level commas)
        for i, tok in enumerate(toks):
            if tok.kind != "op":
                continue
            if tok.text in "([{":
                opened.append((i, 0))
            elif tok.text == "," and opened:
                opened[-1] = (opened[-1][0], opened[-1][1] + 1)
            elif tok.text in ")]}" and opened:
                start, commas = opened.pop()
                self.partner[start], self.partner[i] = i, start
                if toks[start].text in "[{" and not _follows_operand(toks, start):
                    self.literal[start] = 0 if i == start + 1 else commas + 1
        fields = sum(LIST_BOUNDS[t.text] for k, t in enumerate(toks[1:], start=1)
                     if t.kind == "ident" and t.text in LIST_BOUNDS and toks[k - 1].text == ".")
        # no CEL function here makes a list longer than its inputs together (`+` concatenates,
        # `map` keeps the length): every list in the expression at once bounds any of them
        self.unknown = max(1, fields + sum(self.literal.values()))

    def receiver(self, dot: int) -> int:
        """Worst-case size of the list whose `.macro(` follows at token `dot`."""
        prev = self.toks[dot - 1] if dot >= 1 else None
        if prev is None:
            return self.unknown
        if prev.kind == "ident":
            # a field of the order model; a bare name (a comprehension variable) is unknown
            if prev.text in LIST_BOUNDS and dot >= 2 and self.toks[dot - 2].text == ".":
                return LIST_BOUNDS[prev.text]
            return self.unknown
        start = self.partner.get(dot - 1)
        if start is None:
            return self.unknown
        if start in self.literal:
            return max(self.literal[start], 1)
        return self.walked.get(start, self.unknown)


def _follows_operand(toks: list[Token], i: int) -> bool:
    """True when the bracket at `i` indexes or constructs (`a[0]`, `Msg{...}`)."""
    if i == 0:
        return False
    prev = toks[i - 1]
    return prev.kind in ("ident", "string", "number") or prev.text in (")", "]", "}")


def _too_deep(tok: Token) -> CelCompileError:
    return CelCompileError(
        "cel_too_large", f"expression nests more than {MAX_DEPTH} levels deep (brackets, and "
        "chains of operators such as a + b + c, count as nesting)", tok.line, tok.column)


def check(expression: str) -> None:
    """Raise CelCompileError (cel_too_large / cel_too_costly) when a bound is exceeded."""
    if len(expression) > MAX_LENGTH:
        line, col = _position(expression, MAX_LENGTH)
        raise CelCompileError(
            "cel_too_large",
            f"expression is {len(expression)} characters long; the limit is {MAX_LENGTH}",
            line, col)
    toks = tokens(expression)
    lists = _Lists(toks)
    top = _Frame(Token("op", "", 1, 1))
    stack: list[_Frame] = []
    # (cost, iterations, macro token) per outermost comprehension
    top_level: list[tuple[int, int, Token]] = []
    unary_run = 0  # `!!!!x` and `----1` nest like brackets in the syntax tree
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i else None
        frame_now = stack[-1] if stack else top
        if tok.kind == "op" and (tok.text == "!" or tok.text == "-" and (
                prev is None or prev.kind == "op" and prev.text not in ")]}")):
            unary_run += 1
            if frame_now.base + frame_now.chain + unary_run > MAX_DEPTH:
                raise _too_deep(tok)
        else:
            unary_run = 0
            if tok.text in _CHAINING and (tok.kind == "op" or tok.text == "in"):
                frame_now.chain += 1
                # the operator's deepest leaf sits one level below it
                if frame_now.base + frame_now.chain + 1 > MAX_DEPTH:
                    raise _too_deep(tok)
            elif tok.text in (",", "&&", "||"):
                frame_now.chain = 0  # the next operand starts a new chain
        multiplier = 1
        for frame in stack:
            multiplier *= frame.bound
        if tok.kind == "op" and tok.text in "([{":
            frame = _Frame(tok, base=frame_now.base + 1)
            if (tok.text == "(" and i >= 2 and toks[i - 1].kind == "ident"
                    and toks[i - 1].text in MACROS and toks[i - 2].text == "."):
                frame.macro = toks[i - 1].text
                frame.bound = lists.receiver(i - 2)
                lists.walked[i] = frame.bound
                frame.token = toks[i - 1]
                frame.iterations = frame.bound * multiplier
                open_macros = sum(1 for f in stack if f.macro) + 1
                if open_macros > MAX_COMPREHENSION_NESTING:
                    raise CelCompileError(
                        "cel_too_costly",
                        f"comprehensions nest {open_macros} deep; the limit is "
                        f"{MAX_COMPREHENSION_NESTING}", tok.line, frame.token.column)
                if frame.macro in ACCUMULATING:
                    # appending to the result copies it: n * n / 2 element copies
                    frame.cost += frame.bound * frame.bound // 2 * multiplier
            stack.append(frame)
            if frame.base > MAX_DEPTH:
                raise _too_deep(tok)
            continue
        cost, iterations = multiplier, 0
        if tok.kind == "op" and tok.text in ")]}" and stack:
            frame = stack.pop()
            cost, iterations = frame.cost + 1, frame.iterations
            if frame.macro and not any(f.macro for f in stack):
                top_level.append((cost, iterations, frame.token))
        parent = stack[-1] if stack else top
        # charge the innermost comprehension (or the bracket) for this token
        parent.cost += cost
        parent.iterations += iterations
    if stack:
        return  # unbalanced brackets: the parser reports a syntax error with its position
    _check_budgets(top, top_level)


def _check_budgets(top: _Frame, top_level: list[tuple[int, int, Token]]) -> None:
    if top.iterations >= ITERATION_BUDGET:
        worst = max(top_level, key=lambda item: item[1])
        raise CelCompileError(
            "cel_too_costly",
            f"comprehensions could iterate {top.iterations:,} times; the iteration budget of an "
            f"evaluation is {ITERATION_BUDGET - 1:,} (the '{worst[2].text}' comprehension alone "
            f"iterates up to {worst[1]:,} times; order.lines counts {LIST_BOUNDS['lines']:,} "
            "lines; for membership use `x in list`)", worst[2].line, worst[2].column)
    if top.cost > COST_BUDGET and top_level:
        worst_cost, _, where = max(top_level, key=lambda item: item[0])
        raise CelCompileError(
            "cel_too_costly",
            f"estimated worst-case cost {top.cost:,} exceeds the budget of {COST_BUDGET:,} "
            f"(the '{where.text}' comprehension alone costs {worst_cost:,}; lists of order lines "
            f"count {LIST_BOUNDS['lines']:,} elements)", where.line, where.column)
    if top.cost > COST_BUDGET:
        raise CelCompileError(
            "cel_too_costly", f"estimated cost {top.cost:,} exceeds the budget of {COST_BUDGET:,}")
