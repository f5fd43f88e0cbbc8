"""Service settings: where policies come from, where invoices are stored, limits and secrets."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


class MissingDriver(RuntimeError):
    """The database URL needs a driver that is not installed (an optional extra); the
    message says what to install. The command line reports it in one line (exit 2)."""


@dataclass
class Settings:
    """Everything `create_app` needs; `from_env()` reads BILLPLANE_* variables."""

    database_url: str = "sqlite:///./var/billplane.db"
    # SQLite commit durability: full (sync every commit) or normal (see api.db.Database)
    sqlite_synchronous: str = "full"
    # policy source: a followed git repository branch, or a plain directory
    policies: Path | None = Path("policies")
    repo: Path | None = None
    branch: str = "main"
    subdir: str = "policies"
    poll_interval: float = 30.0
    # how often a process checks the store's active revision (activations by other processes)
    policy_sync_seconds: float = 1.0
    # serve a policy directory with uncommitted changes (its revision is marked +dirty)
    allow_dirty: bool = False
    backend: str = "cel-expr"
    # sandbox mode lets evaluate take a `ref` (a git ref of the followed repository)
    sandbox: bool = False
    webhook_secret: str = ""
    bootstrap_admin_key: str = ""
    idempotency_ttl: dt.timedelta = dt.timedelta(hours=24)
    # a same-key request waits this long for the first one to finish
    idempotency_wait: float = 30.0
    # an order dated more than this many days after the issue date is not issued
    max_order_days_ahead: int = 1
    max_body_bytes: int = 1_000_000
    max_lines: int = 1000
    # the longest service period of an order line (about ten years)
    max_period_days: int = 3660
    # auth cache: a verified key is trusted for this many seconds (revocation in this
    # process is immediate; other processes see it after at most this long)
    key_cache_seconds: float = 5.0
    clock: Callable[[], dt.datetime] = field(default=_utcnow)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the environment (BILLPLANE_DATABASE_URL, ...), then `overrides`."""
        s = cls()
        env = os.environ
        if env.get("BILLPLANE_DATABASE_URL"):
            s.database_url = env["BILLPLANE_DATABASE_URL"]
        if env.get("BILLPLANE_SQLITE_SYNCHRONOUS"):
            s.sqlite_synchronous = env["BILLPLANE_SQLITE_SYNCHRONOUS"].strip().lower()
        if env.get("BILLPLANE_POLICIES"):
            s.policies = Path(env["BILLPLANE_POLICIES"])
        if env.get("BILLPLANE_REPO"):
            s.repo = Path(env["BILLPLANE_REPO"])
        s.branch = env.get("BILLPLANE_BRANCH", s.branch)
        s.subdir = env.get("BILLPLANE_SUBDIR", s.subdir)
        if env.get("BILLPLANE_POLL_INTERVAL"):
            s.poll_interval = float(env["BILLPLANE_POLL_INTERVAL"])
        if env.get("BILLPLANE_POLICY_SYNC_SECONDS"):
            s.policy_sync_seconds = float(env["BILLPLANE_POLICY_SYNC_SECONDS"])
        s.allow_dirty = env.get("BILLPLANE_ALLOW_DIRTY", "") in ("1", "true", "yes")
        s.backend = env.get("BILLPLANE_BACKEND", s.backend)
        s.sandbox = env.get("BILLPLANE_SANDBOX", "") in ("1", "true", "yes")
        s.webhook_secret = env.get("BILLPLANE_WEBHOOK_SECRET", "")
        s.bootstrap_admin_key = env.get("BILLPLANE_BOOTSTRAP_ADMIN_KEY", "")
        for name, attr in (("BILLPLANE_MAX_ORDER_DAYS_AHEAD", "max_order_days_ahead"),
                           ("BILLPLANE_MAX_BODY_BYTES", "max_body_bytes"),
                           ("BILLPLANE_MAX_LINES", "max_lines"),
                           ("BILLPLANE_MAX_PERIOD_DAYS", "max_period_days")):
            if env.get(name):
                setattr(s, attr, _positive_int(name, env[name]))
        if env.get("BILLPLANE_IDEMPOTENCY_TTL_HOURS"):
            s.idempotency_ttl = dt.timedelta(hours=float(env["BILLPLANE_IDEMPOTENCY_TTL_HOURS"]))
        for key, value in overrides.items():
            if value is not None:
                setattr(s, key, value)
        return s
