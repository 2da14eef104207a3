"""Plain command-line values (str, int, bool, Path, lists of them) converted without pydantic.

Typer (0.29) converts every parameter through a pydantic ``TypeAdapter`` built on first use, so
any command imports pydantic and builds a dozen adapters before it starts: ~0.25 s, as long as
``mamori scan manifests`` takes to scan 200 files. For the values mamori's commands take, the
conversion is the identity (``str``), ``int()`` of plain digits or ``Path()``, then Typer's own
path checks. Any other value (``--jobs x``, an environment variable for a flag) goes to Typer's
conversion, so what is accepted and every error message stay Typer's.

This reaches into Typer's private ``RuntimeParam`` hook; if Typer changes it, ``speed_up``
does nothing and every value goes through Typer as before (``tests/cli`` notices the start-up
cost coming back: a scan must not import pydantic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # another Typer: leave its conversion alone
    RuntimeParam = None  # type: ignore[assignment,misc]

_LEAVES = (str, int, bool, Path)
# Integers pydantic takes in every mode, written the one way; "+1", "0x1", "1_000", " 1" and
# the like go to Typer.
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NO = object()


def speed_up(command: Any) -> None:
    """Give the plain parameters of ``command`` (and of its built subcommands) the direct
    conversion; the others keep Typer's."""
    if RuntimeParam is None or getattr(command, "_mamori_direct", False):
        return
    command._mamori_direct = True
    for param in getattr(command, "params", ()):
        _install(param)
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None:  # made on first use, with the context's option names

        def get_help_option(ctx: Any) -> Any:
            option = help_option(ctx)
            _install(option)
            return option

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        speed_up(sub)


def _install(param: Any) -> None:
    plain = isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 0) is None
    if plain and _plain(param):
        desc = param.type_descriptor
        param._runtime_param = _Direct(desc.parameter_info, desc.annotation, desc)


def _plain(param: Any) -> bool:
    desc = param.type_descriptor
    info = desc.parameter_info
    if desc.file_annotation is not None or info.parser is not None:
        return False
    if getattr(info, "click_type", None) is not None or getattr(info, "path_type", None):
        return False
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return False
    leaf = desc.annotation
    if get_origin(leaf) is list:
        (leaf,) = get_args(leaf) or (None,)
    return leaf in _LEAVES


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Direct(RuntimeParam):
        """Typer's conversion done directly for plain values (see the module)."""

        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            leaf: Any = self.annotation
            if get_origin(leaf) is list:
                if isinstance(value, list | tuple):
                    out = [self._leaf(get_args(leaf)[0], v, param, ctx) for v in value]
                    if _NO not in out:
                        return out
            else:
                done = self._leaf(leaf, value, param, ctx)
                if done is not _NO:
                    return done
            typer_own = build_runtime_param(self.descriptor)
            return typer_own._coerce_value(value, param=param, ctx=ctx)

        def _leaf(self, leaf: Any, value: Any, param: Any, ctx: Any) -> Any:
            if leaf is str or leaf is bool:
                return value if type(value) is leaf else _NO
            if leaf is int:
                if type(value) is int:
                    return value
                if isinstance(value, str) and _INT.fullmatch(value):
                    return int(value)
                return _NO
            if isinstance(value, str):
                value = Path(value)  # what pydantic makes of a str for a Path
            if not isinstance(value, Path):
                return _NO
            info = self.parameter_info
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
