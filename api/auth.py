"""Bearer API keys (stored as sha256 of a random token, found by prefix) and roles."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlmodel import Session, col, select

from api import audit
from api.db import Database
from api.errors import ApiError, detail
from api.settings import Settings
from api.tables import ApiKey

ROLES = ("billing", "auditor", "approver", "admin")
# what each role may do; admin may do everything. `approve`: decide on credit note requests
# above an invoice's approval threshold (never one's own).
PERMISSIONS: dict[str, frozenset[str]] = {
    "billing": frozenset({"evaluate", "issue", "read"}),
    "auditor": frozenset({"read", "audit"}),
    "approver": frozenset({"read", "approve"}),
    "admin": frozenset({"evaluate", "issue", "read", "audit", "approve", "activate", "keys"}),
}
TOKEN_PREFIX = "bpk"
# a permission in words, for the refusal of a role without it
ACTS = {"evaluate": "evaluate orders", "issue": "issue or correct invoices",
        "read": "read invoices", "audit": "read the audit log and stored orders",
        "approve": "decide on credit note requests", "activate": "activate policy revisions",
        "keys": "manage API keys"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's prefix (the actor in the audit log) and its role."""

    key_id: int
    prefix: str
    role: str

    @property
    def actor(self) -> str:
        return f"key:{self.prefix}"

    @property
    def scope(self) -> str:
        """Whose Idempotency-Keys these are: this API key's."""
        return f"key:{self.key_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_PREFIX = re.compile(r"[A-Za-z0-9]{1,32}")


def split_token(token: str) -> tuple[str, str] | None:
    """`bpk_<prefix>_<secret>` -> (prefix, secret); the prefix is 1-32 letters or digits."""
    parts = token.split("_", 2)
    if (len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _PREFIX.fullmatch(parts[1])
            or not parts[2]):
        return None
    return parts[1], parts[2]


SECRET_BYTES = 32
# a generated secret is SECRET_BYTES random bytes in URL-safe base64: 43 of these characters
SECRET_MIN_CHARS = 32
_SECRET = re.compile(r"[A-Za-z0-9_-]+")


def new_token() -> tuple[str, str]:
    """A fresh (prefix, full token). The token is shown once and never stored."""
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def token_problem(token: str) -> str | None:
    """What makes a given key (a bootstrap key) weaker or other than a generated one, in words
    that never quote it; None when it has the generated form `bpk_<prefix>_<secret>`: a
    prefix of 1-32 letters or digits and a secret of at least SECRET_MIN_CHARS URL-safe
    base64 characters (letters, digits, `-`, `_`)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[2]:
        return f"must look like {TOKEN_PREFIX}_<prefix>_<secret>"
    prefix, secret = parts[1], parts[2]
    if not _PREFIX.fullmatch(prefix):
        return "must have a prefix (after bpk_) of 1 to 32 letters or digits"
    if not _SECRET.fullmatch(secret):
        return "must have a secret (after the prefix) of letters, digits, '-' and '_' only"
    if len(secret) < SECRET_MIN_CHARS:
        return (f"has too short a secret: at least {SECRET_MIN_CHARS} characters after the"
                " prefix (a generated key has 43)")
    return None


def create_key(session: Session, settings: Settings, role: str, name: str, actor: str,
               token: str = "") -> tuple[ApiKey, str]:
    """Store a new key (or the given bootstrap token) and audit it; returns (row, token)."""
    if role not in ROLES:
        raise ApiError("invalid_role", f"role must be one of {', '.join(ROLES)}")
    if token:
        problem = token_problem(token)
        parts = split_token(token)
        if problem is not None or parts is None:
            raise ApiError("invalid_key_format", f"the key {problem}")
        prefix = parts[0]
    else:
        prefix, token = new_token()
    now = settings.clock()
    row = ApiKey(prefix=prefix, hash=_hash(token), role=role, name=name, created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, now, actor, "key_created", f"key:{prefix}", f"role {role}", "",
                 key_digest(row))
    return row, token


def key_digest(row: ApiKey) -> str:
    """A digest of a key's public state (never of its secret or its stored hash)."""
    return audit.digest(json.dumps({
        "prefix": row.prefix, "role": row.role, "name": row.name,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}, sort_keys=True))


def revoke_key(session: Session, prefix: str, actor: str, reason: str,
               now: dt.datetime) -> ApiKey | None:
    """Revoke the key with `prefix` (audited with the reason); None when there is none.
    The last active admin key is never revoked: nobody could manage keys after it."""
    row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update()).first()
    if row is None or row.revoked_at is not None:
        return row
    if row.role == "admin":
        admins = session.exec(select(ApiKey).where(
            ApiKey.role == "admin", col(ApiKey.revoked_at).is_(None)).with_for_update()).all()
        if len(admins) <= 1:
            raise ApiError("last_admin_key", "the last active admin key cannot be revoked;"
                           " create another admin key first", status=409,
                           details=[detail(["path", "prefix"], "last_admin_key",
                                           "names the last active admin key")])
    before = key_digest(row)
    row.revoked_at = now
    session.add(row)
    session.flush()
    audit.record(session, now, actor, "key_revoked", f"key:{prefix}", reason, before,
                 key_digest(row))
    return row


_AUTHORIZATION = [detail(["header", "authorization"], "unauthorized",
                        "must be 'Bearer <key>' with an active API key")]


class KeyRing:
    """Verifies tokens against the store with a short in-memory cache."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        # counts revocations: a verification that read a key's row before one is not cached
        # (the row it read may be the revoked key's, and `forget` ran before it could drop it)
        self._revocations = 0

    def cached(self, authorization: str | None) -> Principal | None:
        """The principal of a header verified a short while ago (no database read), or None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        found = self._cache.get(_hash(authorization[7:].strip()))
        return found[0] if found and found[1] > time.monotonic() else None

    def verify(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header, else 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError("unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                           details=_AUTHORIZATION)
        token = authorization[7:].strip()
        digest = _hash(token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached and cached[1] > now:
            return cached[0]
        parts = split_token(token)
        if parts is None:
            raise ApiError("unauthorized", "invalid API key", details=_AUTHORIZATION)
        with self._lock:
            revocations = self._revocations
        with self.db.read() as s:
            row = s.exec(select(ApiKey).where(ApiKey.prefix == parts[0])).first()
        if (row is None or row.revoked_at is not None or row.id is None
                or not hmac.compare_digest(row.hash, digest)):
            raise ApiError("unauthorized", "invalid API key", details=_AUTHORIZATION)
        principal = Principal(row.id, row.prefix, row.role)
        with self._lock:
            if revocations == self._revocations:
                self._cache[digest] = (principal, now + self.settings.key_cache_seconds)
        return principal

    def forget(self, prefix: str) -> None:
        """Drop a revoked key from the cache at once, and keep verifications in flight
        from caching what they read before the revocation."""
        with self._lock:
            self._revocations += 1
            for digest, (principal, _) in list(self._cache.items()):
                if principal.prefix == prefix:
                    del self._cache[digest]


def require(principal: Principal, permission: str) -> None:
    """403 unless the principal's role grants `permission`."""
    if permission not in PERMISSIONS.get(principal.role, frozenset()):
        raise ApiError("forbidden",
                       f"role {principal.role!r} may not {ACTS.get(permission, permission)}",
                       details=[detail(["header", "authorization"], "forbidden",
                                       "names a key whose role does not permit this")])
