"""Expectations of a policy test: dotted invoice paths and how values compare.

- paths are dotted with `[i]` indexes (`lines[0].tax[0].rate`, `payment.installments[-1]`);
- numbers and decimal-looking strings compare as exact decimals, so `"20"` matches `"20.00"`
  (the invoice formats amounts with the currency's minor digits; a rate is a plain decimal);
- booleans and null compare as themselves, other strings exactly, lists and maps item by item.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_SEGMENT = re.compile(r"([A-Za-z0-9_-]+)((?:\[-?[0-9]+\])*)$")
_INDEX = re.compile(r"\[(-?[0-9]+)\]")
MISSING = object()


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    path: str
    expected: Any
    actual: Any = None
    problem: str = "differs"  # differs | unknown_path | bad_path | error
    detail: str = ""
    where: str = ""  # file:line of the expectation, when known
    inside: tuple[str, ...] = ()  # for a list or map: where inside it the values differ

    def __str__(self) -> str:
        at = f" ({self.where})" if self.where else ""
        if self.problem == "differs":
            if self.inside:  # a list or map: where inside it they differ
                return f"{'; '.join(self.inside)}{at}"
            return f"{self.path}: expected {show(self.expected)}, got {show(self.actual)}{at}"
        if self.problem == "error":
            return f"{self.path}: {self.detail}{at}"
        return f"{self.path}: {self.problem.replace('_', ' ')}: {self.detail}{at}"

    def to_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "problem": self.problem, "expected": plain(self.expected),
               "actual": plain(self.actual), "detail": self.detail}
        if self.where:
            out["where"] = self.where
        return out


def check(document: Any, path: str, expected: Any) -> Mismatch | None:
    """None when the value at `path` matches `expected`, else what is wrong."""
    try:
        steps = parse_path(path)
    except ValueError as exc:
        return Mismatch(path, expected, problem="bad_path", detail=str(exc))
    actual, detail = resolve(document, steps)
    if actual is MISSING:
        return Mismatch(path, expected, problem="unknown_path", detail=detail)
    if not matches(expected, actual):
        inside: list[str] = []
        if isinstance(expected, list | dict) and isinstance(actual, list | dict):
            found = differences(expected, actual, path)
            inside = found[:DIFFERENCES_SHOWN]
            if len(found) > DIFFERENCES_SHOWN:
                inside.append(f"{len(found) - DIFFERENCES_SHOWN} more difference(s)")
        return Mismatch(path, expected, actual, inside=tuple(inside))
    return None


DIFFERENCES_SHOWN = 5
"""How many differences inside one expected list or map a failure names."""


def differences(expected: Any, actual: Any, at: str) -> list[str]:
    """Where `actual` differs from `expected` inside lists and maps, each as
    `path: expected X, got Y` (an item or field missing or not expected, named as such)."""
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found += differences(e, a, f"{at}[{i}]")
        for i in range(len(actual), len(expected)):
            found.append(f"{at}[{i}]: missing, expected {show(expected[i])}")
        for i in range(len(expected), len(actual)):
            found.append(f"{at}[{i}]: not expected, got {show(actual[i])}")
        return found
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        wanted = {str(k): v for k, v in expected.items()}
        for key, value in wanted.items():
            if key in actual:
                found += differences(value, actual[key], f"{at}.{key}")
            else:
                found.append(f"{at}.{key}: missing, expected {show(value)}")
        found += [f"{at}.{key}: not expected, got {show(value)}"
                  for key, value in actual.items() if key not in wanted]
        return found
    if matches(expected, actual):
        return []
    return [f"{at}: expected {show(expected)}, got {show(actual)}"]


def parse_path(path: str) -> list[str | int]:
    """`lines[0].tax[1].rate` -> ["lines", 0, "tax", 1, "rate"]; ValueError when malformed."""
    steps: list[str | int] = []
    if not path:
        raise ValueError("empty path")
    for part in path.split("."):
        found = _SEGMENT.match(part)
        if not found:
            raise ValueError(f"cannot read {part!r} (use name, name[0], a.b[1].c)")
        steps.append(found.group(1))
        steps.extend(int(i) for i in _INDEX.findall(found.group(2)))
    return steps


def resolve(document: Any, steps: list[str | int]) -> tuple[Any, str]:
    """The value at `steps`, or (MISSING, why) naming the deepest part that exists."""
    node = document
    where = ""
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list):
                return MISSING, f"{where or 'the invoice'} is not a list"
            if not -len(node) <= step < len(node):
                return MISSING, f"{where} has {len(node)} item(s), no [{step}]"
            node = node[step]
            where = f"{where}[{step}]"
        else:
            if not isinstance(node, dict):
                return MISSING, f"{where or 'the invoice'} is {show(node)}, not a map"
            if step not in node:
                fields = ", ".join(sorted(node))
                close = difflib.get_close_matches(step, [str(k) for k in node], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return MISSING, (f"{where or 'the invoice'} has no field {step!r}{hint} "
                                 f"({fields})")
            node = node[step]
            where = f"{where}.{step}" if where else step
    return node, ""


def matches(expected: Any, actual: Any) -> bool:
    """Compare an expected YAML value with an invoice value (see the module docstring)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(matches(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and set(map(str, expected)) == set(actual)
                and all(matches(v, actual[str(k)]) for k, v in expected.items()))
    if isinstance(actual, list | dict):
        return False
    left, right = _decimal(expected), _decimal(actual)
    if left is not None and right is not None:
        return left == right
    return str(expected) == str(actual)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def show(value: Any) -> str:
    """A value as it would read in the test file."""
    value = plain(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def plain(value: Any) -> Any:
    """JSON-friendly copy: Decimals become strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
