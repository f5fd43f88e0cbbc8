"""Idempotency keys, after Stripe's contract.

- Keys belong to the API key that sent them (Stripe scopes them per account): two API keys
  may use the same Idempotency-Key without meeting.
- Same key, same endpoint and same body within the retention period: the stored response
  (status and body bytes) is returned again, with `Idempotent-Replayed: true`.
- Same key with a different body or endpoint: 409 `idempotency_conflict` (Stripe answers 400
  `idempotency_error`; a conflict with earlier state is what 409 means in this API).
- Only responses of requests that changed state are remembered. A request refused by
  validation or by policy (4xx) changed nothing, so its key stays free for a corrected retry.
- Concurrent requests with one key: the key's row is inserted with its response, last in the
  writing transaction (one statement, not a placeholder answered later). On PostgreSQL a
  concurrent request with the key waits until the first commits (on the series counter when
  both issue, else on the key's unique index), then fails, is rolled back whole (its counter
  increment too, so no number is lost) and reads the first one's response; on SQLite
  writers are serialised (BEGIN IMMEDIATE) and see the committed row. Within one transaction
  (a group commit) a later request sees the row.
- Rows older than the retention period are ignored and purged.
- A key seen before is found inside the writing transaction (`run`), so a new key costs no
  read of its own. `lookup` is for a request that cannot be carried out now: a retry of an
  issue that today's policy would refuse still gets the answer it was first given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.db import Database, aware
from api.errors import ApiError, detail
from api.tables import IdempotencyRecord, table_of

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdemRequest:
    """One request's key, whose it is (the scope) and the fingerprint of its endpoint and
    body."""

    scope: str
    key: str
    fingerprint: str


def _printable(key: str) -> bool:
    """Whether a header's key is printable text. A header arrives as bytes, read as Latin-1
    (one character a byte): a key a client wrote in UTF-8 (`ord-ключ`) is judged by its
    UTF-8 text, while the key stays as read, so a key accepted before is the same key."""
    try:
        text = key.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return key.isascii() and key.isprintable()
    return text.isprintable()


def request_for(key: str | None, scope: str, endpoint: str, body: Any) -> IdemRequest | None:
    """None without a key; 422 for an unusable key. `scope` is whose key it is (the API key),
    `endpoint` the method and path it was sent to."""
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not _printable(key):
        raise ApiError("invalid_idempotency_key",
                       f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
                       details=[detail(["header", "idempotency-key"], "invalid",
                                       f"must be 1-{MAX_KEY_LENGTH} printable characters")])
    canonical = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"),
                           default=str)
    return IdemRequest(scope[:200], key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Outcome:
    """A response to send: status, body bytes, and whether it is a replay."""

    status: int
    body: bytes
    replayed: bool = False


_IDEM = table_of(IdempotencyRecord)
# statements built once: per call only their parameters change
_SELECT = (select(_IDEM.c.fingerprint, _IDEM.c.status_code, _IDEM.c.body, _IDEM.c.created_at)
           .where(_IDEM.c.scope == bindparam("q_scope"), _IDEM.c.key == bindparam("q_key")))
_DELETE_EXPIRED = delete(_IDEM).where(_IDEM.c.scope == bindparam("q_scope"),
                                      _IDEM.c.key == bindparam("q_key"),
                                      _IDEM.c.created_at < bindparam("q_before"))
_INSERT = insert(_IDEM)


def _stored(session: Session, req: IdemRequest, ttl: dt.timedelta,
            now: dt.datetime) -> Outcome | None:
    return _check(_find(session, req), req, ttl, now)


def _find(session: Session, req: IdemRequest) -> Any:
    return session.connection().execute(
        _SELECT, {"q_scope": req.scope, "q_key": req.key}).first()


def _check(row: Any, req: IdemRequest, ttl: dt.timedelta, now: dt.datetime) -> Outcome | None:
    if row is None or aware(row.created_at) < now - ttl:
        return None
    if row.fingerprint != req.fingerprint:
        raise ApiError("idempotency_conflict",
                       "this Idempotency-Key was used with a different request",
                       details=[detail(["header", "idempotency-key"], "conflict",
                                       "was used with a different request")])
    return Outcome(row.status_code, row.body.encode(), replayed=True)


def lookup(db: Database, req: IdemRequest, ttl: dt.timedelta, now: dt.datetime) -> Outcome | None:
    """The remembered response for `req`, if any (409 when the body differs)."""
    with db.read() as s:
        return _stored(s, req, ttl, now)


Action = Callable[[Session], tuple[int, "dict[str, Any] | bytes"]]


def run(db: Database, req: IdemRequest | None, ttl: dt.timedelta, now: dt.datetime,
        action: Action, key: str = "") -> Outcome:
    """Run `action` in one write transaction, remembering its response under `req`.

    The action may answer with a dict or with response bytes already encoded as `encode`
    would encode them. Concurrent calls may share one commit (`Database.transact`, ordered
    by `key`).
    """
    if req is None:
        status, body = db.transact(action, key)
        return Outcome(status, _bytes(body))

    def work(s: Session) -> Outcome:
        found = _find(s, req)
        hit = _check(found, req, ttl, now)
        if hit is not None:
            return hit
        conn = s.connection()
        if found is not None:
            # an expired row with this key would block the insert: drop it first
            conn.execute(_DELETE_EXPIRED, {"q_scope": req.scope, "q_key": req.key,
                                           "q_before": now - ttl})
        status, body = action(s)
        data = _bytes(body)
        # a concurrent same-key request waits on this insert (PostgreSQL's unique index)
        conn.execute(_INSERT, {
            "scope": req.scope, "key": req.key, "fingerprint": req.fingerprint,
            "status_code": status, "body": data.decode(), "created_at": now})
        return Outcome(status, data)

    for _ in range(3):
        try:
            outcome: Outcome = db.transact(work, key)
            return outcome
        except IntegrityError:
            # another request with this key committed first: answer with its response
            hit = lookup(db, req, ttl, now)
            if hit is not None:
                return hit
    raise ApiError("idempotency_in_progress", "a request with this key is being processed",
                   details=[detail(["header", "idempotency-key"], "in_progress",
                                   "names a request being processed")])


def _bytes(body: dict[str, Any] | bytes) -> bytes:
    return body if isinstance(body, bytes) else encode(body)


def purge(db: Database, ttl: dt.timedelta, now: dt.datetime) -> int:
    """Delete keys older than the retention period; returns how many."""
    with db.write() as s:
        result = s.execute(delete(IdempotencyRecord).where(
            col(IdempotencyRecord.created_at) < now - ttl))
        return int(getattr(result, "rowcount", 0) or 0)


def encode(body: dict[str, Any]) -> bytes:
    """Response bytes: stable key order so a replay is byte-identical."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
