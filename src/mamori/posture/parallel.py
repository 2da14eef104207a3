"""A large file scan on several cores: the inputs are cut into contiguous chunks; this process
scans the first and one forked worker each of the others, whose results come back as tuples.

Fork, because the workers start with everything already imported and every file already read
(no start-up, no re-reading). Tuples, because pickling ``Result`` dataclasses costs as much as
computing them (a 500-file scan: ~0.45 s for 21,000 results); plain tuples of strings and table
indexes cost a tenth of that. A worker that fails in any way is replaced by scanning its chunk
here, so the report is the same whatever happens to the workers; it is also the same as a
single-process scan, order included (the tests hold the two equal).

Cross-object state: MAM-K8S-012 looks up the ServiceAccounts of the whole input. Only a file
whose text has the word ``ServiceAccount`` or ``ServiceAccountList`` (not inside a longer word
such as ``automountServiceAccountToken``), or a ``\\`` escape that could spell it, can hold
one; those few files are parsed here first and every worker gets the same accounts.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import threading
from collections.abc import Sequence
from typing import Any

from mamori.posture.config import ScanConfig
from mamori.posture.engine import Accounts, service_accounts_in
from mamori.posture.model import (
    ContainerRef,
    Diagnostic,
    Location,
    Manifest,
    ResourceId,
    Result,
    Status,
)
from mamori.posture.sources.files import Source, load_sources

# Below this many files a scan stays in one process (a fork and the result transfer cost a
# few milliseconds; a few files take less than that to scan).
MIN_FILES = 50
MIN_FILES_PER_WORKER = 25
MAX_WORKERS = 8

Item = Source | Diagnostic
# What one chunk gives: diagnostics met reading, diagnostics met scanning, results, inputs.
Part = tuple[list[Diagnostic], list[Diagnostic], list[Result], list[str]]

_ACCOUNT_WORD = re.compile(r"ServiceAccount(?:List)?(?!\w)")  # a literal first: a fast search
_STATUSES = tuple(Status)
_STATUS_INDEX = {s: i for i, s in enumerate(_STATUSES)}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_for(items: Sequence[Item], jobs: int | None) -> int:
    """How many processes to scan ``items`` with: ``jobs`` if given (at most one per file),
    else one per core for a large input. Always 1 where fork is unavailable or unsafe (a
    process with threads)."""
    files = sum(1 for i in items if isinstance(i, Source))
    if not hasattr(os, "fork") or threading.active_count() > 1 or files < 2:
        return 1
    if jobs is not None and jobs > 0:
        return min(jobs, files)
    if files < MIN_FILES:
        return 1
    return max(1, min(cores(), MAX_WORKERS, files // MIN_FILES_PER_WORKER))


def split(items: Sequence[Item], n: int) -> list[list[Item]]:
    """``items`` in ``n`` contiguous chunks of about the same amount of text."""
    sizes = [len(i.text) + 1 if isinstance(i, Source) else 0 for i in items]
    total = sum(sizes)
    chunks: list[list[Item]] = [[]]
    done = 0
    for item, size in zip(items, sizes, strict=True):
        if done >= total * len(chunks) / n and len(chunks) < n and chunks[-1]:
            chunks.append([])
        chunks[-1].append(item)
        done += size
    return chunks


def accounts_in(items: Sequence[Item], namespace: str | None) -> Accounts:
    """The ServiceAccounts of the whole input, from the only files that can hold one."""
    maybe = [i for i in items if isinstance(i, Source) and may_hold_account(i.text)]
    objects = [m for m in load_sources(maybe) if isinstance(m, Manifest)]
    return service_accounts_in(objects, namespace)


def may_hold_account(text: str) -> bool:
    if "\\" in text:
        return True
    for found in _ACCOUNT_WORD.finditer(text):
        before = text[found.start() - 1 : found.start()]
        if not (before.isalnum() or before == "_"):
            return True
    return False


def scan_chunk(items: Sequence[Item], config: ScanConfig, accounts: Accounts) -> Part:
    from mamori.posture.scan import scan_objects

    return scan_objects(load_sources(items), config, accounts)


def scan(items: Sequence[Item], config: ScanConfig, n: int) -> Part:
    """``items`` scanned by ``n`` processes (this one included), as one ``Part`` in order."""
    accounts = accounts_in(items, config.namespace)
    chunks = split(items, n)
    children: list[tuple[int, int, list[Item]]] = []
    try:
        for chunk in chunks[1:]:
            children.append(_fork(chunk, config, accounts))
        parts = [scan_chunk(chunks[0], config, accounts)]
        while children:
            pid, fd, chunk = children.pop(0)
            parts.append(_collect(pid, fd) or scan_chunk(chunk, config, accounts))
    finally:
        for pid, fd, _ in children:  # only after an exception here: stop what is left
            os.close(fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    inputs: dict[str, None] = {}
    for part in parts:
        inputs.update(dict.fromkeys(part[3]))
    return (
        [d for part in parts for d in part[0]],
        [d for part in parts for d in part[1]],
        [r for part in parts for r in part[2]],
        list(inputs),
    )


def _fork(chunk: list[Item], config: ScanConfig, accounts: Accounts) -> tuple[int, int, list[Item]]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: scan, send, and leave without running the parent's exit code
        code = 1
        try:
            os.close(read_fd)
            data = encode(scan_chunk(chunk, config, accounts))
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd, chunk


def _collect(pid: int, fd: int) -> Part | None:
    """A worker's part, or None if it failed (its chunk is then scanned here)."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        return decode(data)
    except Exception:  # a truncated or garbled message: scan the chunk again
        return None


def encode(part: Part) -> bytes:
    """A ``Part`` as a pickle of columns; resources, containers and locations once each
    (columns: one list comprehension per field is cheaper than a tuple per result)."""
    read_diags, scan_diags, results, inputs = part
    resources, res_index = _table([r.resource for r in results])
    locations, loc_index = _table([r.location for r in results])
    containers, cont_index = _table([r.container for r in results])
    columns = (
        [r.check_id for r in results],
        [_STATUS_INDEX[r.status] for r in results],
        res_index,
        loc_index,
        [r.message for r in results],
        cont_index,
        [r.field_path for r in results],
        [r.value for r in results],
        [r.exemption for r in results],
        [r.upstream for r in results],
    )
    tables = (
        [(x.kind, x.name, x.namespace, x.api_version, x.uid) for x in resources],
        [(x.file, x.line, x.column, x.helm_source) for x in locations],
        [None if x is None else (x.name, x.type, x.image, x.path) for x in containers],
    )
    message = (read_diags, scan_diags, inputs, tables, columns)
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _table(objects: list[Any]) -> tuple[list[Any], list[int]]:
    """The distinct objects (by identity, in order of first use) and each one's index."""
    distinct = {id(o): o for o in objects}  # all alive: one id, one object
    position = {key: i for i, key in enumerate(distinct)}
    return list(distinct.values()), [position[id(o)] for o in objects]


def decode(data: bytes) -> Part:
    read_diags, scan_diags, inputs, tables, columns = pickle.loads(data)  # noqa: S301 (our own worker's bytes, through a pipe)
    res_rows, loc_rows, cont_rows = tables
    cids, sts, ris, lis, msgs, cis, paths, values, exemptions, upstreams = columns
    resources = [ResourceId(*t) for t in res_rows]
    locations = [Location(*t) for t in loc_rows]
    containers = [None if t is None else ContainerRef(*t) for t in cont_rows]
    statuses = _STATUSES
    results = list(
        map(
            Result,
            cids,
            [statuses[i] for i in sts],
            [resources[i] for i in ris],
            [locations[i] for i in lis],
            msgs,
            [containers[i] for i in cis],
            paths,
            values,
            exemptions,
            upstreams,
        )
    )
    return read_diags, scan_diags, results, inputs
