"""The active policy revision as a fact in the store, followed by every server process.

One `policy_state` row holds the active revision (and its activation in the history), the
followed branch head last looked at, and the last refusal. Activation and refusal rewrite it
in one transaction with the history row and the audit entry, the row locked, so processes
that start or poll together record a change once, not once each.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import Session

from api import audit
from api.commits import CommitInfo
from api.db import Database, aware
from api.tables import PolicyActivation, PolicyState, table_of

_STATE = table_of(PolicyState)
_READ = select(_STATE).where(_STATE.c.id == 1)


@dataclass(frozen=True)
class Stored:
    """The stored policy state (see the module docstring)."""

    activation_id: int | None = None
    revision: str = ""
    digest: str = ""
    source: str = ""
    activated_at: dt.datetime | None = None
    head: str = ""
    refused_revision: str = ""
    refused_reason: str = ""
    refused_at: dt.datetime | None = None


def _stored(row: object) -> Stored:
    if row is None:
        return Stored()
    m = row._mapping  # type: ignore[attr-defined]
    return Stored(m["activation_id"], m["revision"], m["digest"], m["source"],
                  aware(m["activated_at"]) if m["activated_at"] else None, m["head"],
                  m["refused_revision"], m["refused_reason"],
                  aware(m["refused_at"]) if m["refused_at"] else None)


def read(db: Database) -> Stored:
    """The stored state (one small query)."""
    with db.read() as s:
        return _stored(s.connection().execute(_READ).first())


def _locked(session: Session) -> Stored:
    conn = session.connection()
    row = conn.execute(_READ.with_for_update()).first()
    if row is None:  # a store created before the state row existed
        conn.execute(_STATE.insert().values(id=1))
        row = conn.execute(_READ.with_for_update()).first()
    return _stored(row)


@dataclass(frozen=True)
class Candidate:
    """A revision that loaded and passed its PolicyTests, about to become active."""

    revision: str
    digest: str
    source: str
    dirty: bool = False
    commit: CommitInfo | None = None


def activate(db: Database, c: Candidate, actor: str, reason: str, now: dt.datetime,
             head: str | None = None) -> Stored:
    """Make `c` the active revision; when it already is (another process got there first,
    or a restart), nothing is added to the history or the audit log."""
    with db.write() as s:
        state = _locked(s)
        values: dict[str, object] = {}
        if head is not None:
            values["head"] = head
        # a refusal stands while its revision is the followed head: it ends when that revision
        # activates after all, or when a later head of the branch activates
        if state.refused_revision and (state.refused_revision == c.revision
                                       or head == c.revision):
            values.update(refused_revision="", refused_reason="", refused_at=None)
        if state.activation_id is None or (state.revision, state.digest) != (c.revision,
                                                                              c.digest):
            commit = c.commit
            row = PolicyActivation(
                revision=c.revision, digest=c.digest, activated_at=now, actor=actor,
                source=c.source, reason=reason, dirty=c.dirty,
                commit_author=commit.author if commit else "",
                committed_at=commit.committed_at if commit else None,
                commit_subject=commit.subject if commit else "",
                approvals=json.dumps(commit.approvals if commit else []))
            s.add(row)
            s.flush()
            audit.record(s, now, actor, "activation", c.revision, reason or "activation",
                         state.digest, c.digest)
            values.update(activation_id=row.id, revision=c.revision, digest=c.digest,
                          source=c.source, activated_at=now)
        if values:
            s.connection().execute(update(_STATE).where(_STATE.c.id == 1).values(**values))
        return _stored(s.connection().execute(_READ).first())


def refuse(db: Database, revision: str, reason: str, actor: str, now: dt.datetime,
           head: str | None = None) -> Stored:
    """Record that `revision` was not activated and why (audited once per revision)."""
    with db.write() as s:
        state = _locked(s)
        values: dict[str, object] = {"refused_revision": revision, "refused_reason": reason,
                                     "refused_at": now}
        if head is not None:
            values["head"] = head
        if state.refused_revision != revision:
            audit.record(s, now, actor, "activation_refused", revision, reason, state.digest,
                         state.digest)
        else:
            values.pop("refused_at")  # the first refusal's time stands
        s.connection().execute(update(_STATE).where(_STATE.c.id == 1).values(**values))
        return _stored(s.connection().execute(_READ).first())


def note_head(db: Database, head: str) -> None:
    """Remember the followed branch head as looked at (nothing else changes)."""
    with db.write() as s:
        _locked(s)
        s.connection().execute(update(_STATE).where(_STATE.c.id == 1).values(head=head))
