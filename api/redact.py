"""What an error body may say about a request: fields, rules and schema words, never values.

Diagnostics about the order (located at `order`, `order.customer.name`, ...) come worded
with the offending value, e.g. jsonschema's `['Priya Shah', 'OX1 2JD'] is not of type
'object'`. An order carries names and addresses, so such a message is rewritten here: the
location stays, the message keeps only the schema's side (`is not of type 'object'`) or a
fixed text for the code; anything not recognised becomes a generic text. Diagnostics about
policies (file:line of a rule) name no customer values and pass unchanged, except a CEL
evaluation error, whose text may quote a value: it keeps the expression and drops the reason.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import Diagnostic
from engine.order import PATTERN_TEXT, TYPE_TEXT

# jsonschema words its messages "<instance repr> <tail>"; the tail comes from the schema.
# The rightmost marker is past the instance, so only schema text is kept.
_TAILS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (marker, re.compile(rest)) for marker, rest in (
        (" is not of type ", r"(?:'\w+'(?:, )?)+"),
        (" is not one of ", r"\[[^\[\]]*\]"),
        (" does not match ", r"'[^']*'"),
        (" is not a ", r"'[\w-]+'"),
        (" is too short", r""),
        (" is too long", r""),
        (" should be non-empty", r""),
        (" is expected to be empty", r""),
        (" is less than the minimum of ", r"[0-9.eE+-]+"),
        (" is greater than the maximum of ", r"[0-9.eE+-]+"),
        (" is less than or equal to the minimum of ", r"[0-9.eE+-]+"),
        (" is greater than or equal to the maximum of ", r"[0-9.eE+-]+"),
        (" is not a multiple of ", r"[0-9.eE+-]+"),
        (" has non-unique elements", r""),
        (" is not valid under any of the given schemas", r""),
        (" does not have enough properties", r""),
        (" has too many properties", r""),
        (" is not a calendar date", r""),
        (" is not a month", r""),
    ))
# messages that name only properties (schema names, or keys the client sent)
_WHOLE = (
    re.compile(r"'[\w-]{1,64}' is a required property"),
    re.compile(r"Additional properties are not allowed \((?:'[\w-]{1,64}'(?:, )?)+"
               r" (?:was|were) unexpected\)"),
    re.compile(r"'[\w-]{1,64}' is a dependency of '[\w-]{1,64}'"),
)
# fixed texts for order problems the engine words with a value
_BY_CODE = {
    "negative_quantity": "must not be negative",
    "negative_amount": "must not be negative",
    "invalid_period": "the period's start must be before its end (end exclusive)",
    "unknown_currency": "is not an ISO 4217 currency with minor units",
    "unknown_product": "no product has this sku",
    "no_price": "the sku has no price in the order's currency on the order date",
    "invalid_as_of": "as_of is not a date (YYYY-MM-DD)",
    "missing_service_period": "the line needs its service period for its recognition rule",
    "missing_milestone": "the line needs the dates of its recognition rule's milestones",
    "missing_ssp": "a component of the sku has no standalone selling price in this currency",
    "date_out_of_range": "a date computed from the order falls after 9999-12-31",
    "amount_out_of_range": "the amount is more than an invoice can carry"
                           " (9223372036854775807 minor units)",
}
GENERIC = "is not valid"
# the engine's own wording of order problems (engine.order), made of schema words only
_FORMATS = "|".join(re.escape(t) for t in (*PATTERN_TEXT.values(), *TYPE_TEXT.values(),
                                            "in the documented format"))
_ENGINE_WORDS = (
    re.compile(rf"must be (?:{_FORMATS})(?:, not a JSON number)?"),
    re.compile(r"must be one of [\w-]+(?:, [\w-]+)*"),
    re.compile(r"must not be empty|must be at (?:least|most) \d+ characters|is required"
               r"|must have at (?:least \d+ item\(s\)|most \d+ entries)|is not valid here"
               r"|is not a calendar date|is not a month \(YYYY-MM\)"),
    re.compile(r"is not a field of [\w.\[\]]+ \(known: [\w-]+(?:, [\w-]+)*\)"),
)
# engine messages about the order that carry only policy names and schema-checked codes, for
# a code: what they look like. A seller the policies invoice for and ISO 4217 codes are
# policy and schema words, not customer data; a message not of that form gets the fixed text.
_POLICY_WORDS = {
    "unsupported_currency": (
        re.compile(r"seller [\w.-]{1,64} invoices in [A-Z]{3}(?:, [A-Z]{3})*, not [A-Z]{3}"),
        "the seller does not invoice in this currency"),
}
# input diagnostics without an order location: where in the request body they are
_UNLOCATED_INPUT = {"invalid_as_of": ["as_of"]}
_UNLOCATED_INPUT_CODES = frozenset(_UNLOCATED_INPUT)
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_NAME = re.compile(r"[\w-]{1,64}")


def shown_key(key: str) -> str:
    """A key of the request as an error may show it: a plain name (a field's, or a typo of
    one) as it is, any other (a map key the client chose, text with spaces) as `<key>`."""
    return key if _NAME.fullmatch(key) else "<key>"


def about_input(d: Diagnostic) -> bool:
    """True when the diagnostic points into the request's order (or is about its input)."""
    file = d.location.file
    return file == "order" or file.startswith(("order.", "order[")) or (
        d.code in _UNLOCATED_INPUT_CODES)


def safe_message(d: Diagnostic) -> str:
    """The diagnostic's message without request values."""
    if d.code == "cel_eval_error":
        head, sep, _ = d.message.partition(" failed: ")
        return f"{head} failed" if sep else "a CEL expression failed"
    if not about_input(d):
        return d.message
    if d.code in _BY_CODE:
        return _BY_CODE[d.code]
    if d.code in _POLICY_WORDS:
        form, fixed = _POLICY_WORDS[d.code]
        return d.message if form.fullmatch(d.message) else fixed
    text = d.message
    if any(p.fullmatch(text) for p in _WHOLE + _ENGINE_WORDS):
        return text
    best = -1
    kept = ""
    for marker, rest in _TAILS:
        at = text.rfind(marker)
        if at > best and rest.fullmatch(text[at + len(marker):]):
            best, kept = at, text[at + 1:]
    return kept or GENERIC


def request_loc(d: Diagnostic) -> list[str | int]:
    """Where a diagnostic is, as an error detail's `loc`: in the request body
    (`order.lines[0].sku` -> ["body", "order", "lines", 0, "sku"]; a key that is not a plain
    name, such as a map's key the client chose, shows as `<key>`), in a policy file
    (["policy", "tax/uk.yaml"]), or nowhere ([])."""
    file = d.location.file
    if d.code in _UNLOCATED_INPUT and not file:
        return ["body", *_UNLOCATED_INPUT[d.code]]
    if not about_input(d):
        return ["policy", file] if file else []
    loc: list[str | int] = ["body", "order"]
    rest = file[len("order"):]
    at = 0
    while at < len(rest):
        step = _STEP.match(rest, at)
        if step is None:  # not a path of ours: say no more than the order
            return ["body", "order"]
        key, index = step.groups()
        loc.append(int(index) if index is not None else shown_key(key))
        at = step.end()
    return loc


def safe_details(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """Diagnostics as error details (api.errors.detail's arguments): where (`loc`), the code
    as `type`, a message without values, the line and column when the diagnostic has a real
    position (a policy file's), and its rule."""
    return [{"loc": request_loc(d), "type_": d.code, "message": safe_message(d),
             "line": d.location.line, "column": d.location.column, "rule": d.rule}
            for d in diagnostics]
