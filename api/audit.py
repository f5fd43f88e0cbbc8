"""The append-only audit log: every state change, in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlmodel import Session

from api.tables import AuditEntry

ACTIONS = ("issue", "credit_note", "credit_note_requested", "credit_note_rejected", "void",
           "activation", "activation_refused", "key_created", "key_revoked")


def digest(data: bytes | str) -> str:
    """sha256 hex of a state (canonical JSON bytes or text)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def record(session: Session, at: dt.datetime, actor: str, action: str, subject: str,
           reason: str = "", before: str = "", after: str = "") -> None:
    """Append one entry (there is no update or delete path; the database refuses both)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, subject=subject[:200],
                           reason=reason, before_digest=before, after_digest=after))
