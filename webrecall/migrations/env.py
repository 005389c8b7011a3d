"""Alembic environment: the schema is SQLModel.metadata; the URL comes from the config or from Settings."""

from alembic import context
from sqlmodel import SQLModel

import webrecall.core.db  # noqa: F401  (registers the tables on SQLModel.metadata)
from webrecall.core.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from webrecall.core.settings import Settings

    return Settings().db_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with get_engine(_url()).connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
