"""Garbage-collector settings for the long-running processes (server, sensor).

CPython's cyclic collector runs a young collection every 700 net container allocations, and a
full one whenever the objects promoted since the last full one exceed a quarter of the old ones.
An ingest batch of 500 alerts builds ~3,000 dicts and lists, so under load the server ran full
collections over its whole start-up heap (FastAPI, SQLAlchemy, pydantic schemas: hundreds of
thousands of objects) many times a second: 19 % of the server's CPU in ``perf`` during
bench/ingest.py with PostgreSQL.

``gc.freeze()`` moves everything alive at start-up into a permanent generation that no collection
visits (those objects live as long as the process anyway), and a larger young threshold makes
the collections that remain rarer. Together they took the collector from 19 % to under 1 % of
the server's CPU. Reference counting still frees everything acyclic at once; only cyclic garbage
waits a little longer, a few thousand objects at most.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
# How many young collections before a middle one, and middle before a full one is considered.
MIDDLE_EVERY = 20
FULL_EVERY = 100


def tune_for_long_running() -> None:
    """Freeze the start-up heap and raise the thresholds; call once, after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_EVERY, FULL_EVERY)
