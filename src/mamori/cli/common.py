"""What every command group shares: settings, the store, error rendering."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from mamori.core.errors import ConfigError

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only by commands that use it
    from rich.console import Console

    from mamori.config import Settings
    from mamori.store.database import Database

    console: Console
    err_console: Console

_consoles: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console``, created (and Rich imported) on first use."""
    if name not in ("console", "err_console"):
        raise AttributeError(name)
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "err_console")
    return _consoles[name]


def settings() -> Settings:
    from pydantic import ValidationError as PydanticValidationError

    from mamori.config import Settings

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
