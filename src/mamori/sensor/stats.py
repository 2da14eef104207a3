"""Counters the sensor exposes (status, periodic log line); plain ints, one writer each."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class SensorStats:
    records: int = 0  # exec records taken from sources
    events: int = 0  # enriched events handed to detectors
    alerts: int = 0
    dropped_queue: int = 0  # records dropped because the pipeline queue was full
    errors: int = 0  # records whose enrichment or detection raised
    sink_errors: int = 0
    spool_corrupt: int = 0  # unparseable spool lines skipped
    spool_dropped: int = 0  # alerts dropped by the spool's size cap (server down too long)
    sent: int = 0  # alerts the server answered 200 for
    rejected: int = 0  # alerts the server refused as invalid
    send_failures: int = 0  # failed batch attempts (retried)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
