"""ASGI entry for process managers and multi-worker runs: settings come from the environment.

uvicorn --factory mamori.server.asgi:app_from_env --workers 4
"""

from __future__ import annotations

from fastapi import FastAPI

from mamori.config import Settings
from mamori.core.gctune import tune_for_long_running
from mamori.server.app import create_app


def app_from_env() -> FastAPI:
    app = create_app(Settings())
    tune_for_long_running()
    return app
