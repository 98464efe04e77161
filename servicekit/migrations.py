"""Alembic, the same way for every service: one shared environment (servicekit/alembic/) and each
service's revisions in ``<service>/migrations/versions``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_ENV_DIR = Path(__file__).resolve().parent / "alembic"
_REPO = _ENV_DIR.parent.parent


def alembic_config(service_package: str, database_url: str) -> Config:
    """Alembic Config for one service's database."""
    config = Config()
    config.set_main_option("script_location", str(_ENV_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", str(_REPO / service_package / "migrations" / "versions")
    )
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service_package: str, database_url: str, revision: str = "head") -> None:
    """Bring a service's database to ``revision``."""
    command.upgrade(alembic_config(service_package, database_url), revision)


def head(service_package: str) -> str:
    """The newest revision of a service's migrations."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(service_package, "postgresql://"))
    revision = script.get_current_head()
    assert revision is not None, f"{service_package} has no migrations"
    return revision
