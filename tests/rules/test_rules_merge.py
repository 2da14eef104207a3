"""Sibling checks on one field merged (merge.py): the same results, fewer checks."""

from __future__ import annotations

import pytest

from mamori.core.events import ContainerInfo, Event, EventKind, FileInfo, ProcessInfo
from mamori.rules import ast
from mamori.rules.engine import load_ruleset_texts
from mamori.rules.interp import evaluate
from mamori.rules.merge import merge
from mamori.rules.parser import parse
from mamori.rules.ruleset import RuleMatching


@pytest.mark.parametrize(
    ("condition", "merged"),
    [
        ("proc.name = a or proc.name = b", "proc.name in (a, b)"),
        ("proc.name in (a, b) or proc.name = c or proc.name in (a)", "proc.name in (a, b, c)"),
        (
            "fd.name startswith /a or proc.name = x or fd.name startswith /b",
            "fd.name startswith anyof (/a, /b) or proc.name = x",
        ),
        ("fd.name endswith .a or fd.name endswith .b", "fd.name endswith anyof (.a, .b)"),
        ("proc.cmdline contains x or proc.cmdline contains y",
         "proc.cmdline contains anyof (x, y)"),
        ("not proc.name = a and not proc.name in (b, c)", "not proc.name in (a, b, c)"),
        # different fields, operators or a single check: left alone
        ("proc.name = a or proc.pname = b", "proc.name = a or proc.pname = b"),
        ("fd.name startswith /a or fd.name endswith /b",
         "fd.name startswith /a or fd.name endswith /b"),
        ("proc.name = a and proc.name = b", "proc.name = a and proc.name = b"),
        ("not proc.name startswith a and not proc.name startswith b",
         "not proc.name startswith a and not proc.name startswith b"),
        # not single-valued strings: proc.aname (every ancestor), fd.sport (a number)
        ("proc.aname = a or proc.aname = b", "proc.aname = a or proc.aname = b"),
        ("fd.sport = 1 or fd.sport = 2", "fd.sport = 1 or fd.sport = 2"),
        # nested: merged inside, then the or collapses to one check
        ("(proc.name = a or proc.name = b) and fd.name = x", "proc.name in (a, b) and fd.name = x"),
    ],
)  # fmt: skip
def test_merged_form(condition: str, merged: str) -> None:
    out = merge(parse(condition), "syscall")
    assert not isinstance(out, bool)
    assert ast.to_str(out) == ast.to_str(parse(merged))


def test_unchanged_trees_keep_their_identity() -> None:
    tree = parse("proc.name = a and (fd.name = b or proc.pname = c)")
    assert merge(tree, "syscall") is tree


RULES = {
    "names": "proc.name = sh or proc.name = bash or proc.name in (zsh, sh)",
    "prefixes": "fd.name startswith /etc/ or fd.name startswith /usr/bin/",
    "suffixes": "container.image.repository endswith /nginx or "
    "container.image.repository endswith /redis",
    "contains": "proc.cmdline contains miner or proc.cmdline contains stratum",
    "exceptions": "fd.name startswith / and not proc.name = sh and not proc.name = bash",
    "mixed": "(fd.name startswith /tmp or proc.name = nc or fd.name startswith /dev/shm) "
    "and not (proc.pname = a or proc.pname = b)",
}


def _events() -> list[Event]:
    out = []
    for name in ("sh", "bash", "zsh", "nc", "node", None):
        for pname in ("a", "b", "c"):
            for path in ("/etc/hosts", "/usr/bin/x", "/tmp/y", "/dev/shm/z", "/var/x", None):
                for repo in ("reg/nginx", "reg/redis", "reg/app", None):
                    proc = (
                        ProcessInfo(pid=1, name=name, pname=pname, args=("stratum+tcp://x",))
                        if name is not None
                        else None
                    )
                    out.append(Event(
                        kind=EventKind.FILE_OPEN, time_ns=1, syscall="openat", process=proc,
                        file=FileInfo(path=path) if path is not None else None,
                        container=ContainerInfo(id="c" * 64, image_repository=repo)
                        if repo is not None else None,
                    ))  # fmt: skip
    return out


def test_merged_rules_agree_with_the_reference_evaluator() -> None:
    text = "\n".join(
        f"- rule: {n}\n  desc: d\n  condition: evt.type = openat and ({c})\n"
        "  output: o\n  priority: INFO\n"
        for n, c in RULES.items()
    )
    result = load_ruleset_texts([("m.yaml", text)], RuleMatching.ALL)
    assert not result.errors
    seen: set[str] = set()
    for event in _events():
        expected = [r.name for r in result.ruleset.rules if evaluate(r.expr, event, r.source)]
        got = [m.rule.name for m in result.ruleset.match(event)]
        assert got == expected
        seen |= set(got)
    assert seen == set(RULES)
