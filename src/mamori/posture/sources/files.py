"""Files, directories and stdin: YAML streams, ``List`` kinds, JSON objects and arrays."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mamori.posture.model import Diagnostic, DiagnosticLevel, Location, Manifest
from mamori.posture.yamlload import load_text

SUFFIXES = (".yaml", ".yml", ".json")
MAX_BYTES = 32 * 1024 * 1024
STDIN = "-"


def _walk(root: Path) -> Iterator[Path]:
    # scandir: the entry's type without a stat per file (sorted by name, as the paths were).
    with os.scandir(root) as found:
        entries = sorted(found, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(Path(entry.path))
        elif entry.name.lower().endswith(SUFFIXES):
            yield Path(entry.path)


def expand_paths(paths: Iterable[str]) -> Iterator[Path | Diagnostic]:
    for raw in paths:
        if raw == STDIN:
            yield Path(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path
        else:
            yield Diagnostic(
                "PST005", "no such file or directory", Location(raw), DiagnosticLevel.ERROR
            )


def _universal(text: str) -> str:
    """Line ends as text mode reads them (``\\r\\n`` and ``\\r`` -> ``\\n``), without its cost."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _read(path: Path, max_bytes: int, stdin_name: str) -> str | Diagnostic:
    name = stdin_name if str(path) == STDIN else str(path)
    try:
        if str(path) == STDIN:
            text = sys.stdin.read()
            size = len(text.encode())
        else:
            with path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                text = "" if size > max_bytes else _universal(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return Diagnostic("PST005", f"cannot read: {exc}", Location(name), DiagnosticLevel.ERROR)
    if size > max_bytes:
        message = f"file is {size} bytes, over the {max_bytes}-byte limit; not scanned"
        return Diagnostic("PST006", message, Location(name, 1, 1), DiagnosticLevel.ERROR)
    return text


@dataclass(frozen=True, slots=True)
class Source:
    """One input's text, read and not yet parsed."""

    name: str  # as reported (the path, or --stdin-name)
    text: str
    is_json: bool
    stdin: bool = False

    def load(self) -> Iterator[Manifest | Diagnostic]:
        return load_text(self.text, self.name, is_json=self.is_json)


def read_sources(
    paths: Iterable[str], *, max_bytes: int | None = None, stdin_name: str = "<stdin>"
) -> Iterator[Source | Diagnostic]:
    """The text of every file under ``paths`` (``-`` = stdin), or why it cannot be read."""
    limit = MAX_BYTES if max_bytes is None else max_bytes
    for item in expand_paths(paths):
        if isinstance(item, Diagnostic):
            yield item
            continue
        text = _read(item, limit, stdin_name)
        if isinstance(text, Diagnostic):
            yield text
            continue
        stdin = str(item) == STDIN
        name = stdin_name if stdin else str(item)
        yield Source(name, text, item.suffix.lower() == ".json", stdin)


def load_sources(sources: Iterable[Source | Diagnostic]) -> Iterator[Manifest | Diagnostic]:
    for source in sources:
        if isinstance(source, Diagnostic):
            yield source
        else:
            yield from source.load()


def read_manifests(
    paths: Iterable[str], *, max_bytes: int | None = None, stdin_name: str = "<stdin>"
) -> Iterator[Manifest | Diagnostic]:
    """Every object under ``paths`` (``-`` = stdin) and every located problem met on the way."""
    return load_sources(read_sources(paths, max_bytes=max_bytes, stdin_name=stdin_name))
