"""A stand-in engine for the service tests, following the documented invoice contract.

Arithmetic simple enough to check by hand: net = sum(quantity x unit_price), VAT 20 %,
series "T" formatted "T-{year}-{number:05d}", credit notes allowed for 30 days up to 100 %
with approval above 50 %, void allowed for 7 days (the service counts windows from the issue
date). A business customer without a tax id is an error violation (blocks issuance).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from api.port import directory_revision, resolve_ref
from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError, Diagnostic, Location

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


class FakeInvoice:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.blocked = any(v["severity"] == "error" for v in document["violations"])

    def canonical_json(self) -> bytes:
        return json.dumps(self.document, sort_keys=True, separators=(",", ":")).encode()


def fake_bundle(revision: str, tests_ok: bool = True) -> Bundle:
    series = PolicyDoc("InvoiceSeries", "series-t",
                       {"series": "T", "format": "T-{year}-{number:05d}", "gapless": True},
                       Location("series.yaml", 1, 1))
    return Bundle(revision=revision, digest=("d" + revision)[:64].ljust(64, "0"),
                  docs={"series-t": series}, by_kind={"InvoiceSeries": [series]},
                  index={"tests_ok": tests_ok})


class FakeEngine:
    """Implements api.port.EnginePort without the real engine."""

    def load_directory(self, path: Path) -> Bundle:
        # a real directory gets its real revision (git commit, +dirty); else a fixed one
        if not path.is_dir():
            return fake_bundle("dir:fake")
        data = b"".join(f.read_bytes() for f in sorted(path.rglob("*.yaml")))
        return fake_bundle(directory_revision(path), tests_ok=b"FAILING-TEST" not in data)

    def load_git(self, repo: Path, ref: str, subdir: str) -> Bundle:
        import git

        tree = git.Repo(repo).commit(ref).tree
        if subdir:
            tree = tree / subdir
        data = b"".join(b.data_stream.read() for b in tree.traverse()
                        if isinstance(b, git.Blob))
        if b"BROKEN" in data:
            raise BillplaneError(Diagnostic("yaml_syntax", "broken policy",
                                            Location("p.yaml", 1, 1)))
        return fake_bundle(resolve_ref(repo, ref), tests_ok=b"FAILING-TEST" not in data)

    def resolve(self, repo: Path, ref: str) -> str:
        return resolve_ref(repo, ref)

    def run_tests(self, bundle: Bundle) -> tuple[bool, str]:
        ok = bool(bundle.index.get("tests_ok", True))
        return ok, "" if ok else "1 of 1 cases failed"

    def evaluate(self, bundle: Bundle, order: dict[str, Any], as_of: str | None,
                 trace: bool = True) -> FakeInvoice:
        problems = []
        for field in ("id", "date", "currency", "customer", "lines"):
            if field not in order:
                problems.append(Diagnostic("invalid_order", f"{field}: required"))
        lines = order.get("lines") if isinstance(order.get("lines"), list) else []
        if problems or not lines:
            raise BillplaneError(problems or [Diagnostic("invalid_order", "lines: empty")])
        net = Decimal(0)
        for i, line in enumerate(lines):
            try:
                net += Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"]))
            except Exception as exc:  # noqa: BLE001
                raise BillplaneError(Diagnostic("invalid_order", f"lines[{i}]: bad")) from exc
        tax = (net * Decimal("0.2")).quantize(CENT, rounding=ROUND_HALF_UP)
        try:
            date = dt.date.fromisoformat(str(order["date"]))
        except ValueError as exc:
            raise BillplaneError(Diagnostic("invalid_order", "date: not a date")) from exc
        customer = order["customer"] if isinstance(order["customer"], dict) else {}
        violations = []
        if customer.get("type") == "business" and not customer.get("tax_id"):
            violations.append({"rule": "vat-id", "severity": "error",
                               "code": "missing_vat_id", "message": "needs a VAT ID"})
        doc = {
            "schema": "billplane.invoice/v1", "order_id": order["id"], "date": date.isoformat(),
            "currency": order["currency"], "series": "T",
            "customer": {"id": customer.get("id", "")},
            "totals": {"net": _money(net), "tax": _money(tax), "total": _money(net + tax)},
            "tax_summary": [{"rule": "vat", "jurisdiction": "GB", "rate": "20",
                             "taxable": _money(net), "amount": _money(tax),
                             "reverse_charge": False}],
            "payment": {
                "credit_notes": {"allowed": True, "window_days": 30,
                                 "until": (date + dt.timedelta(days=30)).isoformat(),
                                 "max_percent": "100", "approval_above_percent": "50"},
                "void": {"allowed": True, "window_days": 7,
                         "until": (date + dt.timedelta(days=7)).isoformat()},
            },
            "violations": violations,
            "provenance": {"revision": bundle.revision, "as_of": as_of or date.isoformat()},
        }
        return FakeInvoice(doc)

    def format_number(self, spec: dict[str, Any], number: int, date: dt.date) -> str:
        return str(spec["format"]).format(series=spec["series"], year=date.year, number=number)


def order(n: int = 1, customer: str = "C-1", date: str = "2026-03-15", **extra: Any) -> dict:
    """An order of one line: 3 x 10.00 (net 30.00, VAT 6.00, total 36.00)."""
    return {"id": f"ORD-{n}", "date": date, "currency": "GBP", "seller": "acme-uk",
            "customer": {"id": customer, "country": "GB", "type": "consumer"},
            "lines": [{"sku": "A", "quantity": "3", "unit_price": "10.00"}], **extra}


class Clock:
    """A settable clock (time is an input in tests)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


ISSUED_AT = dt.datetime(2026, 3, 16, 9, 30, tzinfo=dt.UTC)


def issue_action(n: int, after: Any = None) -> Any:
    """The store work of issuing `order(n)` with the stand-in engine (for idempotency.run or
    a WriteBatcher), issued at ISSUED_AT; `after` is the after-allocate hook."""
    from api import issuing

    engine, bundle, o = FakeEngine(), fake_bundle("rev-1"), order(n)
    invoice = engine.evaluate(bundle, o, None)

    def action(session: Any) -> tuple[int, bytes]:
        return 201, issuing.issue(session, engine, bundle, invoice, o, "test", ISSUED_AT, after)

    return action


def issued_seqs(db: Any) -> list[int]:
    """The sequence numbers of the invoices in a store, sorted."""
    from sqlmodel import select

    from api.tables import Invoice

    with db.read() as s:
        return sorted(r.seq for r in s.exec(select(Invoice)))
