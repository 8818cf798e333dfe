"""Alembic environment: runs the migrations against the URL given by `upgrade_database`, else the
`sqlalchemy.url` of alembic.ini, else DATABASE_URL from the settings."""

from __future__ import annotations

from alembic import context

import adapters.outcomes  # noqa: F401 - registers the outcomes table on the metadata
from adapters.connections import COMMAND, engine_for_url
from adapters.orm import metadata
from adapters.settings import Settings

config = context.config


def database_url() -> str:
    return (
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or Settings().database_url
    )


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = engine_for_url(database_url(), COMMAND)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
