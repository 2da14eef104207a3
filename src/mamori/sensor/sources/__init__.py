"""Exec sources: fanotify (primary), tracefs (observer/fallback), procfs (state at start)."""
