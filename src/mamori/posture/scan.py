"""One call for the edges: read manifests, run the selected checks, collect everything."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mamori.posture.config import ScanConfig
from mamori.posture.engine import Accounts, Context, scan, service_accounts_in
from mamori.posture.model import Diagnostic, DiagnosticLevel, Level, Manifest, Result, Status
from mamori.posture.sources.files import load_sources, read_sources


@dataclass(slots=True)
class Report:
    """Results, the problems met in the input, and the files read."""

    results: list[Result] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.FAIL]

    @property
    def has_input_errors(self) -> bool:
        return any(d.level is DiagnosticLevel.ERROR for d in self.diagnostics)

    def fails_at(self, threshold: Level | None, severity_of: dict[str, Level]) -> bool:
        if threshold is None:
            return False
        return any(severity_of[r.check_id].rank >= threshold.rank for r in self.findings)


def run_manifests(manifests: Iterable[Manifest | Diagnostic], config: ScanConfig) -> Report:
    """Scan objects already read (with the problems met while reading them)."""
    read, scanned, results, inputs = scan_objects(manifests, config)
    return Report(results, read + scanned, inputs)


def scan_objects(
    manifests: Iterable[Manifest | Diagnostic],
    config: ScanConfig,
    accounts: Accounts | None = None,
) -> tuple[list[Diagnostic], list[Diagnostic], list[Result], list[str]]:
    """Diagnostics met reading, diagnostics met scanning, results, input files (in order).

    ``accounts``: the ServiceAccounts of the whole input, when ``manifests`` are a part of it.
    """
    read: list[Diagnostic] = []
    objects: list[Manifest] = []
    inputs: dict[str, None] = {}  # ordered and O(1), unlike a list search per object
    for item in manifests:
        if isinstance(item, Diagnostic):
            read.append(item)
        else:
            objects.append(item)
            inputs[item.file] = None
    if accounts is None:
        accounts = service_accounts_in(objects, config.namespace)
    scanned: list[Diagnostic] = []
    results: list[Result] = []
    for out in scan(objects, Context(config, accounts)):
        if isinstance(out, Diagnostic):
            scanned.append(out)
        else:
            results.append(out)
    return read, scanned, results, list(inputs)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch scan.

    A 1,000-object scan allocates a few hundred thousand containers (YAML nodes, dicts, results)
    that hold no reference cycles, so reference counting frees them; the collector's passes
    over them, triggered by the allocations themselves, cost about as much as the whole scan.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan_paths(
    paths: Iterable[str],
    config: ScanConfig,
    *,
    stdin_name: str = "<stdin>",
    jobs: int | None = None,
) -> Report:
    """Scan files, directories and stdin (``-``).

    ``jobs``: processes to scan with; by default one per core when there are more than a few
    dozen files (``parallel``), else this process alone. The report is the same either way.
    """
    from mamori.posture import parallel

    with gc_paused():
        items = list(read_sources(paths, stdin_name=stdin_name))
        n = parallel.workers_for(items, jobs)
        if n > 1:
            read, scanned, results, inputs = parallel.scan(items, config, n)
            return Report(results, read + scanned, inputs)
        return run_manifests(load_sources(items), config)
