"""Alembic migrations of the predictions database and `upgrade_database`, which applies them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config for this package's migrations against `url` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url  # kept out of the ini options: URLs may contain '%'
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent: a current database is left as is)."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from adapters.connections import COMMAND, engine_for_url

    engine = engine_for_url(url, COMMAND)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
