"""Load a policy bundle from file contents: parse, check, compile CEL, index. Pure: no I/O."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Any

from engine import schema
from engine.bundle import Bundle, PolicyDoc
from engine.cel.backend import CelBackend, CelCompileError, Context, get_backend
from engine.checks import SourceDoc, run_checks
from engine.errors import BillplaneError, Diagnostic, Location, shown
from engine.model import PSEUDO_RULES
from engine.scalarpos import position_in_scalar
from engine.yamldoc import location_of, parse_documents, to_plain, value_location

API_VERSION = "billplane.dev/v1"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*(/[a-z0-9-]+)*$")

CEL_FIELDS: dict[str, tuple[tuple[str, Context], ...]] = {
    "PricingRule": (("when", "order"), ("applies_to", "line")),
    "TaxRule": (("applies_to", "line"),),
    "CreditPolicy": (("when", "order"),),
    "RecognitionRule": (("applies_to", "line"),),
    "ValidationRule": (("when", "validation"), ("assert", "validation")),
    "InvoiceSeries": (("when", "order"),),
}
"""Which spec fields hold CEL, and the context (variables) each is compiled for."""


def load_bundle(files: Mapping[str, bytes], revision: str = "",
                backend: str | CelBackend = "cel-expr") -> Bundle:
    """Parse, validate and compile every policy file; raise one BillplaneError listing all."""
    errors: list[Diagnostic] = []
    candidates: list[SourceDoc] = []
    misnamed: list[SourceDoc] = []  # of a known kind, with a wrong apiVersion or name
    for path in sorted(files):
        parsed, problems = parse_documents(path, files[path])
        errors.extend(problems)
        for raw in parsed:
            if raw is None:
                continue  # an empty document (a stray `---`)
            doc, ok = _envelope(path, raw, errors)
            if doc is not None:
                (candidates if ok else misnamed).append(doc)
    valid: list[SourceDoc] = []
    broken: list[tuple[SourceDoc, set[str]]] = []  # with the spec fields the schema refused
    checked = [(doc, True) for doc in candidates] + [(doc, False) for doc in misnamed]
    for doc, ok in checked:  # a wrong envelope hides none of the spec's problems
        findings, refused = _schema_problems(doc)
        if not ok:
            findings = [f for f in findings if not _envelope_finding(f)]
        errors.extend(findings)
        if not findings and ok:
            valid.append(doc)
        elif isinstance(doc.raw.get("spec"), dict):
            broken.append((doc, refused))
    # a refused document's own findings that the schema made already (a date it refused) are
    # not told twice
    said = {(d.location.file, d.location.line) for d in errors}
    errors.extend(_duplicates(candidates))
    errors.extend(d for d in run_checks(valid, broken)
                  if (d.location.file, d.location.line) not in said)
    cel = _Lazy(backend)
    programs = _compile_all(valid, files, cel, errors)
    for doc, refused in broken:  # its CEL is checked too: one run shows every mistake
        _compile_all([doc], files, cel, errors, skip=refused)
    if errors:
        raise BillplaneError(errors)
    name = backend if isinstance(backend, str) else getattr(backend, "name", "custom")
    return _bundle(valid, files, revision, name, programs)


class _Lazy:
    """Resolve the CEL backend on first use, so CEL-free bundles never import one."""

    def __init__(self, backend: str | CelBackend) -> None:
        self.spec = backend
        self.backend: CelBackend | None = None if isinstance(backend, str) else backend

    def compile(self, expression: str, context: Context) -> Any:
        if self.backend is None:
            try:
                self.backend = get_backend(str(self.spec))
            except ValueError as exc:
                raise BillplaneError(Diagnostic("unknown_backend", str(exc))) from None
            except ImportError as exc:
                raise BillplaneError(Diagnostic(
                    "cel_unavailable", f"CEL backend {self.spec} is not available: {exc}"),
                ) from None
        return self.backend.compile(expression, context)


def digest_of(files: Mapping[str, bytes]) -> str:
    """sha256 over the sorted (path, sha256(content)) pairs: equal trees, equal digests."""
    outer = hashlib.sha256()
    for path in sorted(files):
        inner = hashlib.sha256(files[path]).hexdigest()
        outer.update(f"{path}\0{inner}\n".encode())
    return outer.hexdigest()


def _envelope(path: str, raw: Any, errors: list[Diagnostic]) -> tuple[SourceDoc | None, bool]:
    """apiVersion, kind and metadata.name, checked before the kind's schema: the document
    (None when its kind is not known) and whether its envelope is valid."""
    start = getattr(raw, "loc", Location(path, 1, 1))
    if not isinstance(raw, dict):
        errors.append(Diagnostic("wrong_type", "a policy document must be a mapping", start))
        return None, False
    ok = True
    name = ""
    metadata = raw.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        name = metadata["name"]
        if not NAME_RE.match(name):
            errors.append(Diagnostic(
                "invalid_name",
                f"metadata.name {shown(name)} must be lowercase letters, digits and '-', in "
                "'/'-separated parts",
                _value_at(raw, ["metadata", "name"]), name))
            ok = False
        elif name in PSEUDO_RULES:
            errors.append(Diagnostic(
                "reserved_name",
                f"metadata.name {name!r} is reserved: the trace uses it for amounts no rule "
                f"produced ({', '.join(sorted(PSEUDO_RULES))})",
                _value_at(raw, ["metadata", "name"]), name))
            ok = False
    elif metadata is None:
        errors.append(Diagnostic("missing_field", "missing required field 'metadata'", start))
        ok = False
    elif not isinstance(metadata, dict):
        errors.append(Diagnostic("wrong_type", "metadata: expected a mapping",
                                 _value_at(raw, ["metadata"])))
        ok = False
    elif "name" not in metadata:
        errors.append(Diagnostic("missing_field", "missing required field 'name' in metadata",
                                 location_of(raw, ["metadata"]) or start))
        ok = False
    else:
        errors.append(Diagnostic("wrong_type", "metadata.name: expected a string",
                                 _value_at(raw, ["metadata", "name"])))
        ok = False
    api = raw.get("apiVersion")
    if api is None:
        errors.append(Diagnostic("missing_field", "missing required field 'apiVersion'", start,
                                 name))
        ok = False
    elif api != API_VERSION:
        errors.append(Diagnostic("unknown_api_version",
                                 f"apiVersion {shown(api)} is not supported (use {API_VERSION})",
                                 _value_at(raw, ["apiVersion"]), name))
        ok = False
    kind = raw.get("kind")
    if kind is None:
        errors.append(Diagnostic("missing_field", "missing required field 'kind'", start, name))
        return None, False
    if kind not in schema.KINDS:
        close = difflib.get_close_matches(str(kind)[:100], schema.KINDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else f" (one of {', '.join(schema.KINDS)})"
        errors.append(Diagnostic("unknown_kind", f"unknown kind {shown(kind)}{hint}",
                                 _value_at(raw, ["kind"]), name))
        return None, False
    return SourceDoc(path, kind, name, raw), ok


def _envelope_finding(diag: Diagnostic) -> bool:
    """A schema finding about what `_envelope` reported already (apiVersion, metadata.name)."""
    return (diag.message.startswith(("apiVersion:", "metadata.name:", "metadata:"))
            or diag.message in ("missing required field 'apiVersion' in document",
                                "missing required field 'metadata' in document",
                                "missing required field 'name' in metadata"))


def _value_at(raw: Any, path: list[str | int]) -> Location:
    found = value_location(raw, path)
    if found is not None:
        return found[0]
    return location_of(raw, path) or raw.loc


def _schema_problems(doc: SourceDoc) -> tuple[list[Diagnostic], set[str]]:
    """The schema findings of a document, and the spec fields they are about (whose CEL is
    then not compiled: a refused expression is not compiled again)."""
    out = []
    refused: set[str] = set()
    for finding in schema.validate(doc.kind, doc.raw):
        path = list(finding.path)
        if path[:1] == ["spec"] and len(path) > 1:
            refused.add(str(path[1]))
        if finding.code in ("wrong_type", "schema_error") and path:
            where = _value_at(doc.raw, path)
        else:
            where = location_of(doc.raw, path) or doc.raw.loc
        out.append(Diagnostic(finding.code, finding.message, where, doc.name))
    return out, refused


def _duplicates(docs: list[SourceDoc]) -> list[Diagnostic]:
    first: dict[str, SourceDoc] = {}
    out = []
    for doc in docs:  # already in (path, position) order
        if doc.name in first:
            prior = first[doc.name]
            where = prior.at("metadata", "name")
            out.append(Diagnostic(
                "duplicate_rule",
                f"rule name '{doc.name}' is already used by the {prior.kind} at "
                f"{where.file}:{where.line}",
                _value_at(doc.raw, ["metadata", "name"]), doc.name))
        else:
            first[doc.name] = doc
    return out


def _compile_all(docs: list[SourceDoc], files: Mapping[str, bytes], cel: _Lazy,
                 errors: list[Diagnostic], skip: Collection[str] = ()
                 ) -> dict[tuple[str, str], Any]:
    """Compile every CEL field (but those in `skip`); each distinct (expression, context) is
    compiled once."""
    programs: dict[tuple[str, str], Any] = {}
    cache: dict[tuple[str, str], Any] = {}
    for doc in docs:
        spec = doc.raw["spec"]
        for field, context in CEL_FIELDS.get(doc.kind, ()):
            expr = spec.get(field)
            if not isinstance(expr, str) or field in skip:
                continue
            key = (expr, context)
            if key not in cache:
                try:
                    cache[key] = cel.compile(expr, context)
                except CelCompileError as exc:
                    cache[key] = exc
            compiled = cache[key]
            if isinstance(compiled, CelCompileError):
                errors.append(_cel_diagnostic(doc, field, compiled, files))
            else:
                programs[(doc.name, f"spec.{field}")] = compiled
    return programs


def _cel_diagnostic(doc: SourceDoc, field: str, exc: CelCompileError,
                    files: Mapping[str, bytes]) -> Diagnostic:
    """Place a CEL error at its line and column inside the YAML file."""
    found = value_location(doc.raw, ["spec", field])
    where = found[0] if found else doc.at("spec", field)
    if found is not None:
        text = files[doc.path].decode("utf-8", "replace")
        where = position_in_scalar(text, found[0], found[1], max(exc.line, 1),
                                   max(exc.column, 1))
    return Diagnostic(exc.code, f"spec.{field}: {exc.message}{_unseen(exc.message, doc, field)}",
                      where, doc.name)


_UNDECLARED = re.compile(r"undeclared reference to '([a-z_]+)")


def _unseen(message: str, doc: SourceDoc, field: str) -> str:
    """Why a known variable is undeclared: the field's context does not have it."""
    found = _UNDECLARED.search(message)
    context = dict(CEL_FIELDS.get(doc.kind, ())).get(field)
    if found is None or context is None:
        return ""
    from engine.cel.types import CONTEXTS  # only once CEL compiled: it loads protobuf

    seen = CONTEXTS[context]
    name = found.group(1)
    if name in seen or name not in {v for names in CONTEXTS.values() for v in names}:
        return ""
    return f" ({name} is not available in {field}, which sees {', '.join(seen)})"


def _priority(doc: PolicyDoc) -> tuple[int, str]:
    value = doc.spec.get("priority", 100)
    return (value if isinstance(value, int) else 100, doc.name)


def _bundle(docs: list[SourceDoc], files: Mapping[str, bytes], revision: str, backend: str,
            programs: dict[tuple[str, str], Any]) -> Bundle:
    policy_docs: dict[str, PolicyDoc] = {}
    for src in docs:
        meta = src.raw["metadata"]
        policy_docs[src.name] = PolicyDoc(
            kind=src.kind, name=src.name, spec=to_plain(src.raw["spec"]), location=src.raw.loc,
            owner=meta.get("owner", ""), description=meta.get("description", ""),
            labels=dict(meta.get("labels") or {}))
    by_kind: dict[str, list[PolicyDoc]] = {}
    for doc in policy_docs.values():
        by_kind.setdefault(doc.kind, []).append(doc)
    for kind_docs in by_kind.values():
        kind_docs.sort(key=_priority)
    products: dict[str, dict[str, Any]] = {}
    for src in docs:
        if src.kind == "PriceBook":
            for i, product in enumerate(src.raw["spec"]["products"]):
                where = src.at("spec", "products", i)
                entry = to_plain(product)
                entry["_book"] = src.name
                entry["_where"] = f"{where.file}:{where.line}"
                # each price entry's own place, for the traces of the amounts it prices
                entry["_price_wheres"] = [
                    f"{at.file}:{at.line}" for at in (
                        src.at("spec", "products", i, "prices", j)
                        for j in range(len(product.get("prices") or ())))]
                products[entry["sku"]] = entry
    return Bundle(revision=revision, digest=digest_of(files), docs=policy_docs, backend=backend,
                  files=tuple(sorted(files)), programs=programs, by_kind=by_kind,
                  products=products)
