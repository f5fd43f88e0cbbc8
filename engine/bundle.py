"""A loaded policy bundle: every document, parsed, checked, with its CEL compiled."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.errors import Location


@dataclass(frozen=True)
class PolicyDoc:
    """One policy document. `spec` is plain data (Decimals for numbers, str for dates)."""

    kind: str
    name: str
    spec: dict[str, Any]
    location: Location
    owner: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @cached_property
    def where(self) -> str:
        """`file:line` of the document, for traces (asked for many times per invoice)."""
        return f"{self.location.file}:{self.location.line}"


@dataclass
class Bundle:
    """All documents of one policy revision. Activates whole or not at all."""

    revision: str
    digest: str
    docs: dict[str, PolicyDoc]
    backend: str = "cel-expr"
    files: tuple[str, ...] = ()
    # compiled CEL programs keyed by (rule name, dotted field path, e.g. "spec.when")
    programs: dict[tuple[str, str], Any] = field(default_factory=dict)
    # derived indexes built once by the loader (kind -> docs sorted by priority then name)
    by_kind: dict[str, list[PolicyDoc]] = field(default_factory=dict)
    # products by sku (from every PriceBook)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    # free-form per-module caches built at load time (e.g. tax index); pure data
    index: dict[str, Any] = field(default_factory=dict)

    def kind(self, kind: str) -> list[PolicyDoc]:
        return self.by_kind.get(kind, [])

    def program(self, rule: str, path: str) -> Any:
        return self.programs.get((rule, path))

    def manifest(self) -> dict[str, Any]:
        """Summary of the revision: what the API and reports show."""
        kinds: dict[str, int] = {}
        for doc in self.docs.values():
            kinds[doc.kind] = kinds.get(doc.kind, 0) + 1
        return {
            "revision": self.revision,
            "digest": self.digest,
            "backend": self.backend,
            "files": len(self.files),
            "rules": len(self.docs),
            "kinds": dict(sorted(kinds.items())),
        }
