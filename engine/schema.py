"""JSON Schemas of the policy kinds: loading, validation and readable, located findings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from engine.errors import excerpt, shown

KINDS = ("PriceBook", "PricingRule", "TaxRule", "CreditPolicy", "RecognitionRule",
         "ValidationRule", "InvoiceSeries", "PolicyTest", "Ownership")
"""Every policy kind, in the order the docs list them."""

SCHEMA_FILES = tuple(f"{k.lower()}.json" for k in KINDS) + ("order.json", "policy.json")
"""Schema files shipped in engine/schemas."""

_BASE = "https://billplane.dev/schemas/"


@dataclass(frozen=True)
class SchemaFinding:
    """One schema violation: a stable code, a message and the path of the offending value."""

    code: str
    message: str
    path: tuple[str | int, ...]


def schema_text(filename: str) -> str:
    """The text of one shipped schema file (e.g. `pricingrule.json`)."""
    return resources.files("engine").joinpath("schemas", filename).read_text("utf-8")


@cache
def _registry() -> Registry:
    registry: Registry = Registry()
    for filename in SCHEMA_FILES:
        contents = json.loads(schema_text(filename))
        registry = registry.with_resource(_BASE + filename, Resource.from_contents(contents))
    return registry


# no pattern of ours fits a longer number: its digits are not even written out
_LONGEST_NUMBER = 40


def _number_text(value: int | Decimal) -> str | None:
    """A YAML number as it would be written plainly (`25.00`, `100`); None when far too big."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**_LONGEST_NUMBER else None
    if not value.is_finite():
        return None
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) + max(exponent, 0) > _LONGEST_NUMBER or exponent < -_LONGEST_NUMBER:
        return None
    return format(value, "f")


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    """A schema `pattern` as JSON Schema reads it (ECMA-262): `$` is the end of the text, where
    Python's `$` also matches before a final newline (so `"3\n"` would pass as a decimal)."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out))


def matches(pattern: str, text: str) -> bool:
    """Whether `text` matches a schema `pattern` (searched, as JSON Schema does)."""
    return _ecma(pattern).search(text) is not None


def pattern_of_strings(validator: Any, pattern: str, instance: Any, schema: Any
                       ) -> Iterator[Any]:
    """`pattern` with JSON Schema's `$` (see `matches`)."""
    if validator.is_type(instance, "string") and not matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` for numbers too: a decimal field may be a YAML number or a string."""
    if isinstance(instance, (int, Decimal)) and not isinstance(instance, bool):
        text = _number_text(instance)
        if text is None or not matches(pattern, text):
            yield ValidationError(f"{instance} does not match {pattern!r}")
    else:
        yield from pattern_of_strings(validator, pattern, instance, schema)


_PolicyValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def _validator(kind: str) -> Any:
    schema = json.loads(schema_text(f"{kind.lower()}.json"))
    return _PolicyValidator(schema, registry=_registry())


def validate(kind: str, document: Any) -> list[SchemaFinding]:
    """Validate one policy document against its kind's schema; [] when valid."""
    validator = _validator(kind)
    findings: list[SchemaFinding] = []
    for error in validator.iter_errors(document):
        findings.extend(_findings(_most_specific(error)))
    return sorted(set(findings), key=lambda f: (_path_key(f.path), f.code, f.message))


def _path_key(path: tuple[str | int, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((0, f"{p:09d}") if isinstance(p, int) else (1, p) for p in path)


def _branch_of(error: ValidationError) -> Any:
    return error.relative_schema_path[0] if error.relative_schema_path else None


def _is_discriminator_miss(error: ValidationError) -> bool:
    # A branch of a oneOf whose `const`/`enum` on a direct child key failed is "not this
    # variant" (e.g. model: flat vs per_unit), so its other errors are noise. Context
    # errors carry paths relative to the value the oneOf applies to. Only `const` marks a
    # variant; an `enum` failure (e.g. interval: fortnight) is a real error in that variant.
    return error.validator == "const" and len(error.path) == 1


def _most_specific(error: ValidationError) -> ValidationError:
    """Walk oneOf/anyOf contexts to the branch the author most likely meant."""
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(_branch_of(sub), []).append(sub)
        matching = {b: errs for b, errs in branches.items()
                    if not any(_is_discriminator_miss(e) for e in errs)}
        if not matching:
            return _no_variant(error, branches)
        # Prefer the variant with the fewest problems, then the deepest one.
        _, errs = min(matching.items(),
                      key=lambda item: (len(item[1]), -max(len(e.path) for e in item[1])))
        error = max(errs, key=lambda e: len(e.path))
    return error


def _no_variant(error: ValidationError, branches: dict[Any, list[ValidationError]]) -> Any:
    """Every variant's discriminator failed: say which values are allowed."""
    allowed: list[str] = []
    key: str | int = ""
    for errs in branches.values():
        for e in errs:
            if e.validator == "const":
                allowed.append(str(e.validator_value))
                key = e.path[-1] if e.path else key
    sub = next(e for errs in branches.values() for e in errs if e.validator == "const")
    return _Synthetic(tuple(sub.absolute_path),
                      f"{key}: {shown(sub.instance)} is not one of {', '.join(allowed)}")


class _Synthetic:
    """A finding made up here rather than by jsonschema (no variant matched)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message


def _findings(error: Any) -> Iterator[SchemaFinding]:
    if isinstance(error, _Synthetic):
        yield SchemaFinding("schema_error", error.message, error.path)
        return
    path = tuple(error.absolute_path)
    where = ".".join(str(p) for p in path) or "document"
    validator, value = error.validator, error.validator_value
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                yield SchemaFinding("unknown_field",
                                    f"unknown field {shown(key)} in {where} (allowed: {known})",
                                    path + (key,))
        return
    if validator == "required":
        missing = [k for k in value if isinstance(error.instance, dict) and k not in error.instance]
        for key in missing:
            yield SchemaFinding("missing_field", f"missing required field '{key}' in {where}",
                                path)
        return
    if validator == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        got = _type_name(error.instance)
        if error.instance is not None:
            got += f" {shown(error.instance)}"
        yield SchemaFinding("wrong_type", f"{where}: expected {expected}, got {got}", path)
        return
    if validator in ("minProperties", "maxProperties") and "exactly one of" in str(
            error.schema.get("description", "")):
        yield SchemaFinding("schema_error", f"{where}: {error.schema['description']}", path)
        return
    yield SchemaFinding("schema_error", f"{where}: {_message(error)}", path)


# what each pattern of the shipped schemas asks for, in words an author reads
_PATTERN_WORDS = {
    r"^-?[0-9]{1,15}(\.[0-9]{1,10})?$":
        "a decimal number with at most 15 digits before the point and 10 after",
    r"^[0-9]{1,15}(\.[0-9]{1,10})?$":
        "a non-negative decimal number with at most 15 digits before the point and 10 after",
    r"^[0-9]{1,3}(\.[0-9]{1,10})?$":
        "a non-negative decimal number with at most 3 digits before the point and 10 after",
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$": "a date written YYYY-MM-DD",
    r"^[0-9]{4}-[0-9]{2}$": "a month written YYYY-MM",
    r"^[A-Z]{3}$": "a three-letter ISO 4217 currency code in capitals (GBP)",
    r"^[A-Z]{2}$": "a two-letter ISO 3166-1 country code in capitals (GB)",
    r"^[A-Z0-9]{1,3}$": "a subdivision code of 1 to 3 capital letters or digits",
    r"^[a-z0-9][a-z0-9-]*(/[a-z0-9-]+)*$":
        "a rule id: lowercase letters, digits and '-', in '/'-separated parts",
    r"^[A-Z0-9][A-Z0-9._-]*$": "a sku: capital letters, digits, '.', '_' and '-'",
    r"^[a-z][a-z0-9_]*$": "a lowercase identifier (letters, digits, '_')",
    r"^[a-z0-9_]+$": "lowercase letters, digits and '_'",
    r"^[A-Za-z0-9_-]{1,32}$": "1 to 32 letters, digits, '_' or '-'",
}


def _message(error: ValidationError) -> str:
    validator, value, instance = error.validator, error.validator_value, error.instance
    if validator == "enum":
        return f"{shown(instance)} is not one of {', '.join(str(v) for v in value)}"
    if validator == "const":
        return f"{shown(instance)} must be {value!r}"
    if validator == "pattern":
        words = _PATTERN_WORDS.get(str(value), f"of the form {value}")
        return f"{shown(instance)} is not {words}"
    if validator == "minItems":
        return f"needs at least {value} item(s)"
    if validator == "maxItems":
        return f"has {len(instance)} items; at most {value} are allowed"
    if validator in ("minLength", "maxLength"):
        most = "at least" if validator == "minLength" else "at most"
        return f"{shown(instance)} is {len(instance):,} characters long; {most} {value:,}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[str(validator)]
        return f"{shown(instance)} must be {bound} {value}"
    return excerpt(str(error.message), 200)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return "number"
