"""JSON Schemas of the policy kinds: loading, validation and readable, located findings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

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


@cache
def _validator(kind: str) -> Draft202012Validator:
    schema = json.loads(schema_text(f"{kind.lower()}.json"))
    return Draft202012Validator(schema, registry=_registry())


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
    value = sub.instance
    return _Synthetic(tuple(sub.absolute_path),
                      f"{key}: {value!r} is not one of {', '.join(allowed)}")


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
                                    f"unknown field '{key}' in {where} (allowed: {known})",
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
        yield SchemaFinding(
            "wrong_type",
            f"{where}: expected {expected}, got {_type_name(error.instance)} {error.instance!r}",
            path)
        return
    if validator in ("minProperties", "maxProperties") and "exactly one of" in str(
            error.schema.get("description", "")):
        yield SchemaFinding("schema_error", f"{where}: {error.schema['description']}", path)
        return
    yield SchemaFinding("schema_error", f"{where}: {_message(error)}", path)


def _message(error: ValidationError) -> str:
    validator, value, instance = error.validator, error.validator_value, error.instance
    if validator == "enum":
        return f"{instance!r} is not one of {', '.join(str(v) for v in value)}"
    if validator == "const":
        return f"{instance!r} must be {value!r}"
    if validator == "pattern":
        return f"{instance!r} does not match the pattern {value}"
    if validator == "minItems":
        return f"needs at least {value} item(s)"
    return str(error.message)


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
