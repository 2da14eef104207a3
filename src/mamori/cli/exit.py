"""Leaving the ``mamori`` process without freeing what a large command built.

A 500-file scan ends holding ~20,000 results and their strings; freeing them one by one, then
tearing the interpreter down, takes ~40 ms after the report is already written (mypy ends the
same way for the same reason). Only the real command does this: ``main`` sets ``ENTRY``, so a
test's ``CliRunner`` (in-process) returns as usual.
"""

from __future__ import annotations

import os
import sys

ENTRY = False  # set by mamori.cli.app.main


def hard_exit(code: int) -> None:
    """End the process now with ``code`` once stdout and stderr are flushed; return (and let
    the usual exit happen) when not the ``mamori`` process or when flushing fails."""
    if not ENTRY:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit reports it
        return
    os._exit(code)
