"""Static bounds on a CEL expression, so that no policy can hang the service.

In the spirit of the Kubernetes CEL cost budget, but checked before compiling, on a token stream
(strings and comments skipped; no parser needed): length, nesting depth, nested
comprehensions, and an estimated worst-case cost where a comprehension over `order.lines`
iterates 1,000 times and nested comprehensions multiply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.cel.backend import CelCompileError
from engine.cel.types import LIST_BOUNDS

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_COMPREHENSION_NESTING = 2
COST_BUDGET = 1_000_000
# a list whose size the estimate cannot bound (a literal, a field not in LIST_BOUNDS)
DEFAULT_LIST_BOUND = 100
MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
# macros that build a list grow it one element at a time: quadratic in the runtimes we use
ACCUMULATING = frozenset({"map", "filter"})

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
    macro: str = ""
    bound: int = 1
    cost: int = 0


def _range_bound(toks: list[Token], dot: int) -> int:
    """Worst-case size of the list a macro iterates: the field just before `.macro(`."""
    if dot >= 1:
        prev = toks[dot - 1]
        if prev.kind == "ident" and prev.text in LIST_BOUNDS:
            return LIST_BOUNDS[prev.text]
    return DEFAULT_LIST_BOUND


def check(expression: str) -> None:
    """Raise CelCompileError (cel_too_large / cel_too_costly) when a bound is exceeded."""
    if len(expression) > MAX_LENGTH:
        line, col = _position(expression, MAX_LENGTH)
        raise CelCompileError(
            "cel_too_large",
            f"expression is {len(expression)} characters long; the limit is {MAX_LENGTH}",
            line, col)
    toks = tokens(expression)
    stack: list[_Frame] = []
    top_level: list[tuple[int, Token]] = []  # (cost, macro token) per outermost comprehension
    top_cost = 0
    unary_run = 0  # `!!!!x` and `----1` nest like brackets in the syntax tree
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i else None
        if tok.kind == "op" and (tok.text == "!" or tok.text == "-" and (
                prev is None or prev.kind == "op" and prev.text not in ")]}")):
            unary_run += 1
            if len(stack) + unary_run > MAX_DEPTH:
                raise CelCompileError(
                    "cel_too_large", f"expression nests more than {MAX_DEPTH} levels deep",
                    tok.line, tok.column)
        else:
            unary_run = 0
        multiplier = 1
        for frame in stack:
            multiplier *= frame.bound
        if tok.kind == "op" and tok.text in "([{":
            frame = _Frame(tok)
            if (tok.text == "(" and i >= 2 and toks[i - 1].kind == "ident"
                    and toks[i - 1].text in MACROS and toks[i - 2].text == "."):
                frame.macro = toks[i - 1].text
                frame.bound = _range_bound(toks, i - 2)
                frame.token = toks[i - 1]
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
            if len(stack) > MAX_DEPTH:
                raise CelCompileError(
                    "cel_too_large", f"expression nests more than {MAX_DEPTH} levels deep",
                    tok.line, tok.column)
            continue
        cost = multiplier
        if tok.kind == "op" and tok.text in ")]}" and stack:
            frame = stack.pop()
            cost = frame.cost + 1
            if frame.macro and not any(f.macro for f in stack):
                top_level.append((cost, frame.token))
        if stack:
            # charge the innermost comprehension (or the bracket) for this token
            stack[-1].cost += cost
        else:
            top_cost += cost
    if stack:
        return  # unbalanced brackets: the parser reports a syntax error with its position
    total = top_cost
    if total > COST_BUDGET and top_level:
        worst, where = max(top_level, key=lambda item: item[0])
        raise CelCompileError(
            "cel_too_costly",
            f"estimated worst-case cost {total} exceeds the budget of {COST_BUDGET} "
            f"(the '{where.text}' comprehension alone costs {worst}; lists of order lines "
            f"count {LIST_BOUNDS['lines']} elements)", where.line, where.column)
    if total > COST_BUDGET:
        raise CelCompileError(
            "cel_too_costly", f"estimated cost {total} exceeds the budget of {COST_BUDGET}")
