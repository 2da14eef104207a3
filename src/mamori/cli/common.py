"""What every command group shares: settings, the store, error rendering."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError
from rich.console import Console

from mamori.config import Settings
from mamori.core.errors import ConfigError

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only by commands that use it
    from mamori.store.database import Database

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    try:
        return Settings()
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"MAMORI_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    except Exception as exc:  # e.g. pydantic-settings' SettingsError
        raise ConfigError(f"invalid settings: {exc}") from None


def open_db(s: Settings | None = None) -> Database:
    from mamori.store.database import Database

    s = s or settings()
    return Database.connect(s.resolved_database_url())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
