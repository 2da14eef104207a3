"""Batch ingest: validate every item on its own so one bad item never drops the good ones."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticError
from typing_extensions import TypedDict

from mamori.core.errors import ValidationError

I = TypeVar("I")  # noqa: E741 (the input TypedDict)


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    errors: list[dict[str, str]]


@dataclass(slots=True)
class BatchResult(Generic[I]):
    """The validated items (as parsed, not yet converted) and each bad item's errors."""

    received: int = 0
    valid: list[I] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FastPath:
    """A core-only variant of the item type for the one-pass check of a whole batch, and what
    to do to each item after it (may raise ValueError: the slow path then decides)."""

    item: Any
    finish: Callable[[Any], None]


_ADAPTERS: dict[tuple[str, Any], tuple[TypeAdapter[Any], TypeAdapter[Any]]] = {}


def _adapters(key: str, item: Any) -> tuple[TypeAdapter[Any], TypeAdapter[Any]]:
    """(the whole ``{key: [items]}`` body, one item), built once per item type."""
    if (key, item) not in _ADAPTERS:
        wrapper = TypedDict("Batch", {key: list[item]})  # type: ignore[misc]
        wrapper.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
        _ADAPTERS[key, item] = TypeAdapter(wrapper), TypeAdapter(item)
    return _ADAPTERS[key, item]


def _describe(err: Any, skip: int) -> dict[str, str]:
    loc = ".".join(str(p) for p in err.get("loc", ())[skip:])
    return {"loc": loc or "(item)", "msg": str(err.get("msg", "invalid"))}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _items(body: bytes, key: str) -> list[Any]:
    """The list of raw items in ``{"<key>": [...]}`` (or a bare JSON list), parsed slowly."""
    try:
        text = body.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259), not UTF-16/32
    except UnicodeDecodeError:
        raise ValidationError("body is not UTF-8 text") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValidationError("body is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise ValidationError(f"body is not usable JSON: {exc}") from None
    if isinstance(doc, dict):
        if set(doc) - {key}:
            unknown = ", ".join(sorted(set(doc) - {key}))
            raise ValidationError(f"unknown top-level keys: {unknown} (expected {key!r})")
        doc = doc.get(key)
    if not isinstance(doc, list):
        raise ValidationError(f"body must be a JSON object with a list under {key!r}")
    return doc


def _validate_fast(whole: TypeAdapter[Any], body: bytes, key: str) -> list[Any] | None:
    """All items checked in one pass, or None when anything is off (the slow path says what)."""
    if b"NaN" in body or b"Infinity" in body or SUSPECT_ESCAPE.search(body):
        # pydantic-core's parser accepts NaN and Infinity, which are not JSON; PostgreSQL
        # cannot store NUL characters, and no store can encode an unpaired surrogate: the slow
        # path rejects those items one by one (a surrogate pair, an emoji, is fine there).
        return None
    try:
        items: list[Any] = whole.validate_json(body)[key]
    except PydanticError:
        return None
    return items


def ingest_batch(
    body: bytes, key: str, item: type[I], max_items: int, fast: FastPath | None = None
) -> BatchResult[I]:
    """Validate a batch body. Fast path: pydantic-core parses and checks the JSON in one pass
    (with ``fast``'s item type when given); only when something is wrong is each item parsed
    and checked on its own, with ``item``."""
    whole = _adapters(key, fast.item if fast else item)[0]
    one = _adapters(key, item)[1]
    parsed: list[I] | None = _validate_fast(whole, body, key)
    if parsed is not None and fast is not None:
        try:
            for p in parsed:
                fast.finish(p)
        except ValueError:
            parsed = None
    if parsed is not None:
        if len(parsed) > max_items:
            raise ValidationError(f"batch has {len(parsed)} items; at most {max_items} allowed")
        return BatchResult(len(parsed), parsed)
    items = _items(body, key)
    if len(items) > max_items:
        raise ValidationError(f"batch has {len(items)} items; at most {max_items} allowed")
    result: BatchResult[I] = BatchResult(len(items))
    for index, raw in enumerate(items):
        bad = _bad_text_at(raw, ())
        if bad is not None:
            where = ".".join(str(p) for p in bad[0]) or "(item)"
            result.errors.append(ItemError(index, [{"loc": where, "msg": bad[1]}]))
            continue
        try:
            result.valid.append(one.validate_python(raw))
        except PydanticError as exc:
            result.errors.append(ItemError(index, [_describe(e, 0) for e in exc.errors()]))
    return result


# \u0000, or a \uD800-\uDFFF escape (half of a surrogate pair, or an unpaired one).
SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_NUL_MESSAGE = "text must not contain NUL (\\u0000) characters"
_SURROGATE_MESSAGE = "text must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)"


def _bad_text(text: str) -> str | None:
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    return _NUL_MESSAGE if found.group() == "\x00" else _SURROGATE_MESSAGE


def _bad_text_at(
    value: Any, loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], str] | None:
    """Where the first text no store can keep (NUL, an unpaired surrogate) is in a parsed JSON
    value, and why; None when there is none."""
    if isinstance(value, str):
        why = _bad_text(value)
        return None if why is None else (loc, why)
    if isinstance(value, dict):
        for key, sub in value.items():
            why = _bad_text(key)
            found = ((*loc, key), why) if why is not None else _bad_text_at(sub, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found = _bad_text_at(sub, (*loc, i))
            if found is not None:
                return found
    return None
