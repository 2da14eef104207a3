"""Batch ingest: validate every item on its own so one bad item never drops the good ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticError

from mamori.core.errors import ValidationError

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    errors: list[dict[str, str]]


@dataclass(slots=True)
class BatchResult(Generic[C]):
    valid: list[C] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


def _describe(err: Any) -> dict[str, str]:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return {"loc": loc or "(item)", "msg": str(err.get("msg", "invalid"))}


def parse_body(body: bytes, key: str) -> list[Any]:
    """The list of raw items in ``{"<key>": [...]}`` (or a bare JSON list)."""
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise ValidationError("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    items = doc.get(key) if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and set(doc) - {key}:
        unknown = ", ".join(sorted(set(doc) - {key}))
        raise ValidationError(f"unknown top-level keys: {unknown} (expected {key!r})")
    if not isinstance(items, list):
        raise ValidationError(f"body must be a JSON object with a list under {key!r}")
    return items


def validate_items(
    items: Sequence[Any], model: type[M], convert: Callable[[M], C], max_items: int
) -> BatchResult[C]:
    """Validate a batch; the fast path validates the whole list at once."""
    if len(items) > max_items:
        raise ValidationError(f"batch has {len(items)} items; at most {max_items} are allowed")
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    result: BatchResult[C] = BatchResult()
    try:
        models: list[M] = adapter.validate_python(items)
    except PydanticError as exc:
        bad: dict[int, list[dict[str, str]]] = {}
        for err in exc.errors():
            loc = err["loc"]
            index = loc[0] if loc and isinstance(loc[0], int) else -1
            bad.setdefault(index, []).append(_describe({**err, "loc": loc[1:]}))
        result.errors = [ItemError(i, e) for i, e in sorted(bad.items())]
        models = [model.model_validate(it) for i, it in enumerate(items) if i not in bad]
    result.valid = [convert(m) for m in models]
    return result
