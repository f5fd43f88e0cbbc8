"""Alembic environment: migrations run at service start on the connection handed over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    # `alembic upgrade head` from a shell: the URL comes from the config / env
    import os

    url = os.environ.get("BILLPLANE_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    with create_engine(url or "sqlite:///./var/billplane.db").begin() as conn:
        context.configure(connection=conn, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
