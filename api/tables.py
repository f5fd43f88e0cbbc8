"""The store's tables (SQLModel). Issued documents and the audit log are insert-only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# the largest row id the store holds (ids are INTEGER columns: 32 bits on PostgreSQL)
MAX_ID = 2**31 - 1


def _ts() -> Column:
    return Column(DateTime(timezone=True), nullable=False)


class ApiKey(SQLModel, table=True):
    """An API key: only the sha256 of the token is stored; `prefix` finds it."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=32, unique=True, index=True)
    hash: str = Field(max_length=64)
    role: str = Field(max_length=16)
    name: str = Field(default="", max_length=200)
    created_at: dt.datetime = Field(sa_column=_ts())
    revoked_at: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class SeriesCounter(SQLModel, table=True):
    """The next number of a series; locked while a number is allocated (never a sequence)."""

    __tablename__ = "series_counter"
    series: str = Field(primary_key=True, max_length=100)
    next_number: int = Field(default=1)


class Invoice(SQLModel, table=True):
    """An issued invoice: the order, the canonical invoice JSON and the revision. Immutable."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("series", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=100, unique=True, index=True)
    series: str = Field(max_length=100)
    seq: int
    order_id: str = Field(max_length=100)
    customer_id: str = Field(max_length=100, index=True)
    date: dt.date = Field(index=True)
    currency: str = Field(max_length=3)
    total: str = Field(max_length=40)
    revision: str = Field(max_length=100, index=True)
    digest: str = Field(max_length=64)
    issued_at: dt.datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=200)
    order_json: str = Field(sa_column=Column(Text, nullable=False))
    invoice_json: str = Field(sa_column=Column(Text, nullable=False))


class CreditNote(SQLModel, table=True):
    """A credit note against an issued invoice, numbered in the credit-note series: its
    amount (tax included), the net/tax split, and whether it settles the invoice in full."""

    __tablename__ = "credit_note"
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=100, unique=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount: str = Field(max_length=40)
    net: str = Field(default="", max_length=40)
    tax: str = Field(default="", max_length=40)
    # JSON list of the invoice's tax lines' shares: {rule, jurisdiction, rate, taxable, amount}
    tax_lines: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    settles: bool = False
    reason: str = Field(default="", max_length=500)
    approved: bool = False
    approved_by: str = Field(default="", max_length=200)
    request_id: int | None = None
    created_at: dt.datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=200)


class CreditRequest(SQLModel, table=True):
    """A credit note above the invoice's approval threshold, waiting for another principal
    with the approve permission (see CreditDecision)."""

    __tablename__ = "credit_request"
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount: str = Field(max_length=40)
    reason: str = Field(max_length=500)
    requested_by: str = Field(max_length=200)
    requester_key: int
    requested_at: dt.datetime = Field(sa_column=_ts())


class CreditDecision(SQLModel, table=True):
    """The approval or rejection of a credit note request (one per request)."""

    __tablename__ = "credit_decision"
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="credit_request.id", unique=True)
    decision: str = Field(max_length=16)
    reason: str = Field(max_length=500)
    actor: str = Field(max_length=200)
    at: dt.datetime = Field(sa_column=_ts())


class InvoiceVoid(SQLModel, table=True):
    """The voiding of an invoice: a separate row, the invoice itself never changes."""

    __tablename__ = "invoice_void"
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", unique=True)
    reason: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=200)


class IdempotencyRecord(SQLModel, table=True):
    """A remembered response for an Idempotency-Key, kept for the configured period."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=200)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(sa_column=_ts())


class AuditEntry(SQLModel, table=True):
    """One state change: who, when, why, and digests of the state before and after."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50, index=True)
    subject: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    before_digest: str = Field(default="", max_length=100)
    after_digest: str = Field(default="", max_length=100)


class PolicyActivation(SQLModel, table=True):
    """A revision that became active (the policy history), with its commit's metadata."""

    __tablename__ = "policy_activation"
    id: int | None = Field(default=None, primary_key=True)
    revision: str = Field(max_length=100)
    digest: str = Field(max_length=64)
    activated_at: dt.datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=200)
    source: str = Field(default="", max_length=500)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    dirty: bool = False
    commit_author: str = Field(default="", max_length=300)
    committed_at: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    commit_subject: str = Field(default="", max_length=500)
    # JSON list of {"trailer": "Approved-by", "by": "Name <email>"}
    approvals: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class PolicyState(SQLModel, table=True):
    """The one row every server process follows: the active revision, the followed branch
    head last looked at, and the last refusal. Activation rewrites it in a transaction."""

    __tablename__ = "policy_state"
    id: int = Field(default=1, primary_key=True)
    activation_id: int | None = Field(default=None, foreign_key="policy_activation.id")
    revision: str = Field(default="", max_length=100)
    digest: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=500)
    activated_at: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    head: str = Field(default="", max_length=100)
    refused_revision: str = Field(default="", max_length=100)
    refused_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    refused_at: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for plain SQL statements on the hot paths."""
    table: Table = getattr(model, "__table__")  # noqa: B009 - mypy does not see the attribute
    return table
