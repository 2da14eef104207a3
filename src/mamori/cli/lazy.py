"""Command groups whose commands are imported when they run (not when the CLI starts).

``mamori scan manifests`` should not import the server, the store or the vulnerability
database; a table of name -> (module, attribute) is enough to list the commands in ``--help``.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from mamori.cli.coerce import speed_up

Table = dict[str, tuple[str, str]]


def load_command(name: str, module: str, attr: str) -> Any:
    """The click command for ``module.attr`` (a Typer group or a command function)."""
    target = getattr(importlib.import_module(module), attr)
    if not isinstance(target, typer.Typer):
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    else:
        # Through a parent, as add_typer would: a group of one command stays a group.
        parent = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        parent.add_typer(target, name=name)
        parent.callback()(lambda: None)
        command = typer.main.get_command(parent).commands[name]  # type: ignore[attr-defined]
    command.name = name
    speed_up(command)
    return command


def lazy_group(commands: Table) -> type[TyperGroup]:
    """A Typer group class that also offers ``commands``, each built when first asked for.

    (``Any`` for click's types: Typer vendors click, and its module is private.)
    """

    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: Any) -> list[str]:
            own = super().list_commands(ctx)
            return [*(c for c in commands if c not in own), *own]

        def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
            speed_up(self)
            return super().make_context(info_name, args, parent, **extra)

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            if cmd_name in commands and cmd_name not in self.commands:
                return load_command(cmd_name, *commands[cmd_name])
            return super().get_command(ctx, cmd_name)

    return LazyGroup
