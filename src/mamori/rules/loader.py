"""Loader: rules files (as written) -> lists, macros and rules after append/override.

Reads each file's items in order, validates keys and types, and applies Falco's layering: a later
definition replaces an earlier one, ``append: true`` or ``override:`` extends or replaces parts of
an existing one. Problems become diagnostics; nothing is raised for user content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.core.severity import Severity
from mamori.rules.diagnostics import Code, Diagnostic, Location
from mamori.rules.yamlsrc import Item, Text, YamlProblem, read_items

ENGINE_VERSION = (0, 57, 0)

_RULE_KEYS = frozenset(
    (
        "rule", "condition", "output", "desc", "priority", "tags", "enabled", "source",
        "exceptions", "append", "override", "warn_evttypes", "skip-if-unknown-filter",
        "capture", "capture_duration",
    )
)  # fmt: skip
_MACRO_KEYS = frozenset(("macro", "condition", "append", "override", "source"))
_LIST_KEYS = frozenset(("list", "items", "append", "override", "source"))
_RULE_APPENDABLE = frozenset(("condition", "output", "desc", "tags", "exceptions"))
_RULE_REPLACEABLE = frozenset(
    ("condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "source",
     "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration")
)  # fmt: skip


@dataclass(slots=True)
class ListDef:
    name: str
    items: list[str]
    location: Location


@dataclass(slots=True)
class MacroDef:
    name: str
    condition: Text
    location: Location


@dataclass(slots=True)
class ExceptionDef:
    name: str
    fields: str | list[str] | None
    comps: str | list[str] | None
    values: list[Any]
    location: Location


@dataclass(slots=True)
class RuleDef:
    name: str
    condition: Text
    output: str
    desc: str
    priority: Severity
    location: Location
    source: str = "syscall"
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    exceptions: list[ExceptionDef] = field(default_factory=list)
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False


@dataclass(slots=True)
class Collected:
    """Everything the files define, after layering, in definition order."""

    lists: dict[str, ListDef] = field(default_factory=dict)
    macros: dict[str, MacroDef] = field(default_factory=dict)
    rules: dict[str, RuleDef] = field(default_factory=dict)
    required_engine_versions: list[str] = field(default_factory=list)
    required_plugins: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Counts of items as written, per file: {"file": {"rule": n, "macro": n, "list": n}}.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def load_files(paths: Iterable[str | Path], default_source: str = "syscall") -> Collected:
    sources: list[tuple[str, str]] = []
    out = Collected()
    for p in paths:
        try:
            sources.append((str(p), Path(p).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            out.diagnostics.append(
                Diagnostic(Code.IO_ERROR, f"cannot read: {exc}", Location(str(p)))
            )
    return load_texts(sources, default_source, out)


def load_texts(
    sources: Iterable[tuple[str, str]],
    default_source: str = "syscall",
    into: Collected | None = None,
) -> Collected:
    """Load (name, content) pairs in order, later files layering over earlier ones."""
    out = into if into is not None else Collected()
    for name, content in sources:
        out.files.append(name)
        out.counts[name] = {"rule": 0, "macro": 0, "list": 0}
        _Collector(out, name, default_source).run(content)
    return out


class _Collector:
    def __init__(self, out: Collected, name: str, default_source: str) -> None:
        self.out = out
        self.name = name
        self.default_source = default_source

    def diag(self, code: Code, message: str, where: Location, item: str | None = None) -> None:
        self.out.diagnostics.append(Diagnostic(code, message, where, item))

    def run(self, content: str) -> None:
        try:
            items = read_items(self.name, content)
        except YamlProblem as problem:
            self.diag(Code.YAML_ERROR, problem.message, problem.location)
            return
        for item in items:
            if isinstance(item, YamlProblem):
                self.diag(Code.WRONG_TYPE, item.message, item.location)
                continue
            self.dispatch(item)

    def dispatch(self, item: Item) -> None:
        data = item.data
        for kind in ("rule", "macro", "list"):
            if kind in data:
                self.out.counts[self.name][kind] += 1
                if not isinstance(data[kind], str) or not data[kind]:
                    self.diag(Code.WRONG_TYPE, f"'{kind}' must be a non-empty string",
                              item.where(kind))  # fmt: skip
                    return
                getattr(self, f"on_{kind}")(item, data[kind])
                return
        if "required_engine_version" in data:
            self.on_engine_version(item)
        elif "required_plugin_versions" in data:
            self.on_plugins(item)
        else:
            keys = ", ".join(sorted(map(str, data))) or "nothing"
            self.diag(Code.UNKNOWN_KEY, f"unknown item with keys: {keys}", item.location)

    # -- checks shared by every kind ------------------------------------------------------------

    def check_keys(self, item: Item, allowed: frozenset[str], label: str) -> None:
        for key in item.data:
            if key not in allowed:
                self.diag(Code.UNKNOWN_KEY, f"unknown key '{key}'", item.where(key), label)

    def typed(self, item: Item, key: str, kind: type | tuple[type, ...], label: str) -> bool:
        """True when ``key`` is absent or has the expected type; else a diagnostic."""
        if key not in item.data or (item.data[key] is None and kind is not bool):
            return True
        value = item.data[key]
        ok = isinstance(value, kind) and not (kind in (str, list) and isinstance(value, bool))
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.diag(Code.WRONG_TYPE, f"'{key}' must be a {_TYPE_WORDS.get(names, names)}",
                      item.where(key), label)  # fmt: skip
        return ok

    def layering(self, item: Item, label: str) -> tuple[bool, dict[str, str]] | None:
        """(append, override) of an item, or None if they are malformed."""
        append = item.data.get("append", False)
        if not isinstance(append, bool):
            self.diag(Code.WRONG_TYPE, "'append' must be true or false", item.where("append"),
                      label)  # fmt: skip
            return None
        override = item.data.get("override") or {}
        if not isinstance(override, dict) or not all(
            isinstance(v, str) and v in ("append", "replace") for v in override.values()
        ):
            self.diag(Code.BAD_OVERRIDE, "'override' maps keys to 'append' or 'replace'",
                      item.where("override"), label)  # fmt: skip
            return None
        if append and override:
            self.diag(Code.BAD_OVERRIDE, "'append' and 'override' cannot be used together",
                      item.where("override"), label)  # fmt: skip
            return None
        for key in override:
            if key not in item.data:
                self.diag(Code.BAD_OVERRIDE, f"override of '{key}' but the item has no '{key}'",
                          item.where("override"), label)  # fmt: skip
                return None
        return append, {str(k): str(v) for k, v in override.items()}

    # -- lists and macros -----------------------------------------------------------------------

    def on_list(self, item: Item, name: str) -> None:
        label = f"list '{name}'"
        self.check_keys(item, _LIST_KEYS, label)
        layering = self.layering(item, label)
        if layering is None or not self.typed(item, "items", list, label):
            return
        append, override = layering
        raw = item.data.get("items") or []
        items = [_item_text(v) for v in raw]
        if any(v is None for v in items):
            self.diag(Code.WRONG_TYPE, "list items must be strings or numbers",
                      item.where("items"), label)  # fmt: skip
            return
        clean = [v for v in items if v is not None]
        existing = self.out.lists.get(name)
        if append or override.get("items") == "append":
            if existing is None:
                self.diag(Code.APPEND_UNDEFINED, f"append to undefined list '{name}'",
                          item.location, label)  # fmt: skip
                return
            existing.items.extend(clean)
        elif override and existing is None:
            self.diag(Code.APPEND_UNDEFINED, f"override of undefined list '{name}'",
                      item.location, label)  # fmt: skip
        else:
            # A redefinition replaces the old one in place, as in Falco.
            self.out.lists[name] = ListDef(name, clean, item.location)

    def on_macro(self, item: Item, name: str) -> None:
        label = f"macro '{name}'"
        self.check_keys(item, _MACRO_KEYS, label)
        layering = self.layering(item, label)
        if layering is None or not self.typed(item, "condition", str, label):
            return
        append, override = layering
        text = item.texts.get("condition")
        if text is None:
            self.diag(Code.MISSING_KEY, "a macro needs a 'condition'", item.location, label)
            return
        existing = self.out.macros.get(name)
        if append or override.get("condition") == "append":
            if existing is None:
                self.diag(Code.APPEND_UNDEFINED, f"append to undefined macro '{name}'",
                          item.location, label)  # fmt: skip
                return
            existing.condition = existing.condition.append(text)
        elif override and existing is None:
            self.diag(Code.APPEND_UNDEFINED, f"override of undefined macro '{name}'",
                      item.location, label)  # fmt: skip
        else:
            self.out.macros[name] = MacroDef(name, text, item.location)

    # -- rules ------------------------------------------------------------------------------------

    def on_rule(self, item: Item, name: str) -> None:
        label = f"rule '{name}'"
        self.check_keys(item, _RULE_KEYS, label)
        layering = self.layering(item, label)
        if layering is None or not self.rule_types(item, label):
            return
        append, override = layering
        existing = self.out.rules.get(name)
        keys = set(item.data) - {"rule", "append", "override"}
        if append or override:
            if existing is None:
                word = "append to" if append else "override of"
                self.diag(Code.APPEND_UNDEFINED, f"{word} undefined rule '{name}'",
                          item.location, label)  # fmt: skip
                return
            modes = {k: "append" for k in keys} if append else override
            self.layer_rule(existing, item, modes, label)
        elif existing is not None and keys <= {"enabled"}:
            if "enabled" in item.data:
                existing.enabled = bool(item.data["enabled"])
        elif keys <= {"enabled"}:
            self.diag(Code.APPEND_UNDEFINED, f"enabling undefined rule '{name}'",
                      item.location, label)  # fmt: skip
        else:
            rule = self.new_rule(item, name, label)
            if rule is not None:
                self.out.rules[name] = rule

    def rule_types(self, item: Item, label: str) -> bool:
        ok = True
        for key in ("condition", "output", "desc", "priority", "source"):
            ok = self.typed(item, key, str, label) and ok
        for key in ("enabled", "warn_evttypes", "skip-if-unknown-filter"):
            ok = self.typed(item, key, bool, label) and ok
        for key in ("tags", "exceptions"):
            ok = self.typed(item, key, list, label) and ok
        tags = item.data.get("tags") or []
        if isinstance(tags, list) and not all(isinstance(t, str) for t in tags):
            self.diag(Code.WRONG_TYPE, "tags must be strings", item.where("tags"), label)
            ok = False
        if "priority" in item.data and isinstance(item.data["priority"], str):
            try:
                Severity.parse(item.data["priority"])
            except ValueError as exc:
                self.diag(Code.BAD_VALUE, str(exc), item.where("priority"), label)
                ok = False
        return ok

    def new_rule(self, item: Item, name: str, label: str) -> RuleDef | None:
        data = item.data
        missing = [k for k in ("condition", "output", "desc", "priority") if data.get(k) is None]
        if missing:
            self.diag(Code.MISSING_KEY, f"a rule needs {', '.join(repr(k) for k in missing)}",
                      item.location, label)  # fmt: skip
            return None
        exceptions = self.exceptions(item, label, new=True)
        if exceptions is None:
            return None
        return RuleDef(
            name=name,
            condition=item.texts["condition"],
            output=str(data["output"]).strip(),
            desc=str(data["desc"]).strip(),
            priority=Severity.parse(str(data["priority"])),
            location=item.location,
            source=str(data.get("source") or self.default_source),
            tags=list(data.get("tags") or []),
            enabled=bool(data.get("enabled", True)),
            exceptions=exceptions,
            warn_evttypes=bool(data.get("warn_evttypes", True)),
            skip_if_unknown_filter=bool(data.get("skip-if-unknown-filter", False)),
        )

    def layer_rule(self, rule: RuleDef, item: Item, modes: dict[str, str], label: str) -> None:
        data = item.data
        for key, mode in modes.items():
            allowed = _RULE_APPENDABLE if mode == "append" else _RULE_REPLACEABLE
            if key not in allowed:
                self.diag(Code.BAD_OVERRIDE, f"'{key}' cannot be {mode}ed",
                          item.where(key), label)  # fmt: skip
                continue
            if key == "exceptions":
                self.layer_exceptions(rule, item, mode, label)
            elif key == "condition":
                text = item.texts["condition"]
                rule.condition = rule.condition.append(text) if mode == "append" else text
            elif key in ("output", "desc"):
                value = str(data[key]).strip()
                old = getattr(rule, key)
                setattr(rule, key, f"{old} {value}" if mode == "append" else value)
            elif key == "tags":
                tags = list(data.get("tags") or [])
                rule.tags = rule.tags + tags if mode == "append" else tags
            elif key == "priority":
                rule.priority = Severity.parse(str(data["priority"]))
            elif key == "enabled":
                rule.enabled = bool(data["enabled"])
            elif key == "source":
                rule.source = str(data["source"])
            elif key == "warn_evttypes":
                rule.warn_evttypes = bool(data[key])
            elif key == "skip-if-unknown-filter":
                rule.skip_if_unknown_filter = bool(data[key])

    def layer_exceptions(self, rule: RuleDef, item: Item, mode: str, label: str) -> None:
        new = self.exceptions(item, label, new=False)
        if new is None:
            return
        if mode == "replace":
            rule.exceptions = new
            return
        by_name = {e.name: e for e in rule.exceptions}
        for exc in new:
            old = by_name.get(exc.name)
            if old is not None:
                old.values.extend(exc.values)
            elif exc.fields is None:
                self.diag(Code.BAD_EXCEPTION,
                          f"exception '{exc.name}' is new: it needs 'fields'",
                          exc.location, label)  # fmt: skip
            else:
                rule.exceptions.append(exc)
                by_name[exc.name] = exc

    def exceptions(self, item: Item, label: str, new: bool) -> list[ExceptionDef] | None:
        raw = item.data.get("exceptions") or []
        where = item.where("exceptions")
        out: list[ExceptionDef] = []
        for i, exc in enumerate(raw):
            if not isinstance(exc, dict) or not isinstance(exc.get("name"), str):
                self.diag(Code.BAD_EXCEPTION, f"exception #{i + 1} needs a 'name'", where, label)
                return None
            fields, comps = exc.get("fields"), exc.get("comps")
            values = exc.get("values") or []
            ok = (
                _str_or_strs(fields, allow_none=not new)
                and _str_or_strs(comps, allow_none=True)
                and isinstance(values, list)
            )
            if not ok:
                self.diag(Code.BAD_EXCEPTION,
                          f"exception '{exc['name']}': fields/comps must be a string or a list "
                          "of strings, values a list", where, label)  # fmt: skip
                return None
            out.append(ExceptionDef(exc["name"], fields, comps, list(values), where))
        return out

    # -- versions -------------------------------------------------------------------------------

    def on_engine_version(self, item: Item) -> None:
        value = item.data["required_engine_version"]
        where = item.where("required_engine_version")
        version = _version_tuple(value)
        if version is None:
            self.diag(Code.WRONG_TYPE, "required_engine_version must be a version", where)
            return
        self.out.required_engine_versions.append(str(value))
        if version > ENGINE_VERSION:
            ours = ".".join(map(str, ENGINE_VERSION))
            self.diag(Code.ENGINE_VERSION,
                      f"rules need engine version {value}, mamori's engine is {ours}",
                      where)  # fmt: skip

    def on_plugins(self, item: Item) -> None:
        value = item.data["required_plugin_versions"]
        if not isinstance(value, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in value
        ):
            self.diag(Code.WRONG_TYPE, "required_plugin_versions is a list of {name, version}",
                      item.where("required_plugin_versions"))  # fmt: skip
            return
        self.out.required_plugins.extend(value)


_TYPE_WORDS = {"str": "string", "list": "list", "bool": "boolean (true/false)", "dict": "mapping"}


def _item_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _str_or_strs(value: Any, allow_none: bool) -> bool:
    if value is None:
        return allow_none
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _version_tuple(value: Any) -> tuple[int, ...] | None:
    """Falco's engine version: an int N means 0.N.0; else "major.minor.patch"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (0, value, 0)
    if not isinstance(value, str):
        return None
    try:
        parts = tuple(int(p) for p in value.strip().split("."))
    except ValueError:
        return None
    return parts if 1 <= len(parts) <= 3 else None
