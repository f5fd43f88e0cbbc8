"""`billplane keys`: create, list and revoke API keys directly in the store (bootstrap)."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import col, select

HELP = "manage API keys (create prints the key once)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments: an action, the role, and the database."""
    parser.add_argument("action", choices=["create", "list", "revoke"])
    parser.add_argument("prefix", nargs="?", help="the key prefix (revoke)")
    parser.add_argument("--role", choices=["billing", "auditor", "approver", "admin"],
                        default="billing")
    parser.add_argument("--reason", default="", help="why the key is revoked (required)")
    parser.add_argument("--name", default="")
    parser.add_argument("--database-url", help="default: BILLPLANE_DATABASE_URL or "
                        "sqlite:///./var/billplane.db")


def run(args: argparse.Namespace) -> int:
    """Create / list / revoke keys; exit 2 on usage errors."""
    from api.auth import create_key, revoke_key
    from api.db import Database
    from api.errors import ApiError
    from api.settings import Settings
    from api.tables import ApiKey

    settings = Settings.from_env(database_url=args.database_url)
    db = Database(settings.database_url)
    db.migrate()
    try:
        if args.action == "create":
            with db.write() as s:
                row, token = create_key(s, settings, args.role, args.name, "cli")
            print(token)
            print(f"created {row.role} key {row.prefix}; this is the only time it is shown",
                  file=sys.stderr)
            return 0
        if args.action == "list":
            with db.read() as s:
                for row in s.exec(select(ApiKey).order_by(col(ApiKey.id))):
                    state = "revoked" if row.revoked_at else "active"
                    print(f"{row.prefix}\t{row.role}\t{state}\t{row.name}")
            return 0
        if not args.prefix or not args.reason.strip():
            print("keys revoke needs a key prefix and --reason", file=sys.stderr)
            return 2
        try:
            with db.write() as s:
                found = revoke_key(s, args.prefix, "cli", args.reason.strip(), settings.clock())
        except ApiError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        if found is None:
            print(f"no key with prefix {args.prefix}", file=sys.stderr)
            return 1
        print(f"revoked {args.prefix}")
        return 0
    finally:
        db.dispose()
