"""`billplane serve`: run the HTTP API with uvicorn.

Keys are never generated implicitly. Bootstrap with `billplane keys create --role admin`
(prints the key once), or set BILLPLANE_BOOTSTRAP_ADMIN_KEY to a key of the form
`bpk_<prefix>_<secret>` (a secret of at least 32 URL-safe characters, as generated keys
have), stored (hashed) as an admin key when the store has no keys. A variable that is set but
not such a key stops the service before it starts (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from api.settings import Settings

HELP = "run the HTTP API (evaluate and issue invoices)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Host, port, policy source and database."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--policies", type=Path, default=None,
                        help="a policy directory (default: policies)")
    parser.add_argument("--repo", type=Path, default=None,
                        help="follow a branch of this policy git repository")
    parser.add_argument("--branch", default=None, help="the followed branch (default main)")
    parser.add_argument("--subdir", default=None,
                        help="policy folder inside the repository (default policies)")
    parser.add_argument("--poll-interval", type=float, default=None,
                        help="seconds between polls of the followed branch (default 30; "
                             "BILLPLANE_POLL_INTERVAL; 0 polls only on the webhook)")
    parser.add_argument("--database-url", default=None,
                        help="default: BILLPLANE_DATABASE_URL or sqlite:///./var/billplane.db")
    parser.add_argument("--backend", choices=["cel-expr", "cel-python"], default=None)
    parser.add_argument("--sandbox", action="store_true",
                        help="allow `ref` in evaluate requests (a git ref of the repository)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="serve a policy directory with uncommitted changes")
    parser.add_argument("--max-body-bytes", type=int, default=None,
                        help="largest request body (default 1000000)")
    parser.add_argument("--max-lines", type=int, default=None,
                        help="most lines an order may have (default 1000)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (each runs the app; they share the database)")


def run(args: argparse.Namespace) -> int:
    """Build the app and serve it until interrupted."""
    import uvicorn
    from sqlmodel import select

    from api.app import create_app
    from api.tables import ApiKey

    try:
        settings = Settings.from_env(
            database_url=args.database_url, policies=args.policies, repo=args.repo,
            branch=args.branch, subdir=args.subdir, poll_interval=args.poll_interval,
            backend=args.backend, sandbox=args.sandbox or None,
            allow_dirty=args.allow_dirty or None, max_body_bytes=args.max_body_bytes,
            max_lines=args.max_lines)
    except ValueError as exc:  # a BILLPLANE_* variable that is not a number
        print(f"billplane serve: {exc}", file=sys.stderr)
        return 2
    if settings.repo is not None and args.policies is None:
        settings.policies = None
    if settings.policies is not None and not settings.policies.is_dir():
        print(f"no policy directory at {settings.policies}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except ValueError as exc:  # a setting the store refuses, e.g. BILLPLANE_SQLITE_SYNCHRONOUS
        print(f"billplane serve: {exc}", file=sys.stderr)
        return 2
    svc = app.state.services
    with svc.db.read() as s:
        if s.exec(select(ApiKey)).first() is None:
            print("no API keys yet: create one with `billplane keys create --role admin`"
                  " (or set BILLPLANE_BOOTSTRAP_ADMIN_KEY)", file=sys.stderr)
    active = svc.policy.current()
    refused = svc.policy.refused
    if active is None and refused is not None:
        print(f"policy revision {refused.revision} was refused: {refused.reason}",
              file=sys.stderr)
    print(f"serving policy revision {active.revision if active else '(none)'} on "
          f"http://{args.host}:{args.port} with {max(args.workers, 1)} worker(s)",
          file=sys.stderr)
    if args.workers > 1:
        # each worker process builds its own app from the environment
        svc.db.dispose()
        _export(settings)
        uvicorn.run("api.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level, access_log=False)
        return 0
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=False)
    return 0


def _export(settings: Settings) -> None:
    """The resolved settings as BILLPLANE_* variables, for worker processes."""
    env = os.environ
    env["BILLPLANE_DATABASE_URL"] = settings.database_url
    env["BILLPLANE_SQLITE_SYNCHRONOUS"] = settings.sqlite_synchronous
    env["BILLPLANE_BRANCH"] = settings.branch
    env["BILLPLANE_SUBDIR"] = settings.subdir
    env["BILLPLANE_POLL_INTERVAL"] = str(settings.poll_interval)
    env["BILLPLANE_BACKEND"] = settings.backend
    env["BILLPLANE_SANDBOX"] = "1" if settings.sandbox else ""
    env["BILLPLANE_ALLOW_DIRTY"] = "1" if settings.allow_dirty else ""
    env["BILLPLANE_POLICY_SYNC_SECONDS"] = str(settings.policy_sync_seconds)
    env["BILLPLANE_MAX_BODY_BYTES"] = str(settings.max_body_bytes)
    env["BILLPLANE_MAX_LINES"] = str(settings.max_lines)
    env["BILLPLANE_MAX_PERIOD_DAYS"] = str(settings.max_period_days)
    env["BILLPLANE_MAX_ORDER_DAYS_AHEAD"] = str(settings.max_order_days_ahead)
    env["BILLPLANE_IDEMPOTENCY_TTL_HOURS"] = str(settings.idempotency_ttl.total_seconds() / 3600)
    for name, value in (("BILLPLANE_POLICIES", settings.policies),
                        ("BILLPLANE_REPO", settings.repo)):
        if value is not None:
            env[name] = str(Path(value).resolve())
        else:
            env.pop(name, None)
