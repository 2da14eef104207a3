"""The alerts-over-time chart: stacked bars per UI severity, rendered as inline SVG (no JS)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from mamori.core.severity import UiSeverity
from mamori.store.alerts import SeverityBucket

ORDER = (UiSeverity.INFORMATIONAL, UiSeverity.LOW, UiSeverity.MEDIUM, UiSeverity.HIGH)
WIDTH, HEIGHT, MAX_BARS = 720, 140, 72


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    severity: str
    count: int
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    max_count: int
    first: str
    last: str
    width: int = WIDTH
    height: int = HEIGHT


def build_chart(buckets: list[SeverityBucket], *, hourly: bool) -> Chart | None:
    """Lay out the newest ``MAX_BARS`` buckets, filling empty ones so time reads left to right."""
    if not buckets:
        return None
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    counts: dict[datetime, dict[UiSeverity, int]] = defaultdict(lambda: defaultdict(int))
    for b in buckets:
        counts[b.start][b.severity.ui] += b.count
    end = max(counts)
    start = max(min(counts), end - step * (MAX_BARS - 1))
    slots: list[datetime] = []
    t = start
    while t <= end:
        slots.append(t)
        t += step
    totals = [sum(counts[s].values()) if s in counts else 0 for s in slots]
    peak = max(totals) or 1
    slot_w = WIDTH / len(slots)
    fmt = "%Y-%m-%d %H:00" if hourly else "%Y-%m-%d"
    bars: list[Bar] = []
    for i, slot in enumerate(slots):
        y = float(HEIGHT)
        for ui in ORDER:
            n = counts[slot][ui] if slot in counts else 0
            if not n:
                continue
            h = HEIGHT * n / peak
            y -= h
            label = f"{slot.strftime(fmt)} UTC: {n} {ui.value}"
            bars.append(Bar(i * slot_w + 1, y, max(slot_w - 2, 1), h, ui.value, n, label))
    return Chart(bars, peak, slots[0].strftime(fmt), slots[-1].strftime(fmt))
