"""The path-prefix index (prefix.py): rules left out of a path class can never match there.

Each check form the index reads (``=``, ``in``, ``startswith`` and its ``anyof`` list, ``glob``,
``pmatch``, ``fd.directory =/in``) and the forms it must leave alone (``not``, ``!=``,
``exists``, other operators) are run through a ruleset and compared with the reference
evaluator on paths at, below, beside and short of every listed prefix, and on events with no
path at all.
"""

from __future__ import annotations

import pytest

from mamori.core.events import Event, EventKind, FileInfo, NetworkInfo, ProcessInfo
from mamori.rules import ast, prefix
from mamori.rules.engine import load_ruleset_texts
from mamori.rules.index import plan
from mamori.rules.interp import evaluate
from mamori.rules.parser import parse
from mamori.rules.prefix import Classifier, PrefixKey, can_be
from mamori.rules.ruleset import RuleMatching

CONDITIONS = {
    "eq": "fd.name = /etc/shadow",
    "in": "fd.name in (/etc/sudoers, /root/.bashrc)",
    "starts": "fd.name startswith /etc/",
    "starts-anyof": "fd.name startswith anyof (/usr/bin/, /bin/)",
    "glob": "fd.name glob '/dev/sd*'",
    "glob-leading-star": "fd.name glob '*.log'",
    "pmatch": "fd.name pmatch (/root/.ssh, /var/www/)",
    "dir-eq": "fd.directory = /etc",
    "dir-in": "fd.directory in (/bin, /usr/lib)",
    "and-nested": "fd.name startswith /usr/ and fd.name startswith /usr/lib/",
    "and-disjoint": "fd.name startswith /etc/ and fd.name startswith /var/",
    "or": "fd.name startswith /proc/ or fd.directory = /dev",
    "or-any": "fd.name startswith /proc/ or proc.name = sh",
    "not-eq": "not fd.name = /etc/shadow",
    "not-ne": "not fd.name != /etc/hosts",
    "ne": "fd.name != /etc/hosts",
    "not-dir-ne": "not fd.directory != /etc",
    "exists": "fd.name exists",
    "not-exists": "not fd.name exists",
    "not-or": "not (fd.name startswith /a or fd.name startswith /b)",
    "contains": "fd.name contains ssh",
    "root": "fd.directory = /",
    "with-proc": "fd.name startswith /etc/ and proc.name in (vi, nano)",
}


def _rules_yaml() -> str:
    out = []
    for name, cond in CONDITIONS.items():
        out.append(
            f"- rule: {name}\n  desc: d\n  condition: evt.type = openat and ({cond})\n"
            "  output: o\n  priority: INFO\n"
        )
    return "\n".join(out)


def _paths() -> list[str]:
    base = ["/etc/shadow", "/etc/sudoers", "/root/.bashrc", "/etc/", "/etc", "/usr/bin/",
            "/bin/", "/dev/sd", "/root/.ssh", "/var/www", "/usr/lib", "/usr/", "/usr/lib/",
            "/proc/", "/dev", "/etc/hosts", "/a", "/b", "/", ""]  # fmt: skip
    near = [v for p in base for v in (p + "/x", p + "x", p[:-1], p + "/")]
    return sorted(set(base + near + ["/var/log/app.log", "/home/u/.ssh/id", "relative/x"]))


def _events() -> list[Event]:
    out = []
    for path in _paths():
        for directory in (False, True):
            for name in ("sh", "vi"):
                out.append(Event(kind=EventKind.FILE_OPEN, time_ns=1, syscall="openat",
                                 process=ProcessInfo(pid=1, name=name),
                                 file=FileInfo(path=path, directory=directory)))  # fmt: skip
    for net in (None, NetworkInfo("unix", dst_ip="/etc/x.sock"), NetworkInfo("tcp", "10.0.0.1")):
        out.append(Event(kind=EventKind.FILE_OPEN, time_ns=1, syscall="openat",
                         process=ProcessInfo(pid=1, name="sh"), network=net))  # fmt: skip
    return out


@pytest.mark.parametrize("matching", [RuleMatching.ALL, RuleMatching.FIRST])
def test_prefix_index_agrees_with_the_reference_evaluator(matching: RuleMatching) -> None:
    result = load_ruleset_texts([("p.yaml", _rules_yaml())], matching)
    assert not result.errors
    ruleset = result.ruleset
    seen: set[str] = set()
    for event in _events():
        expected = [r.name for r in ruleset.rules if evaluate(r.expr, event, r.source)]
        if matching is RuleMatching.FIRST:
            expected = expected[:1]
        got = [m.rule.name for m in ruleset.match(event)]
        assert got == expected, (event.file, event.network)
        seen |= set(got)
    if matching is RuleMatching.ALL:  # every rule matched some event: the corpus reaches them
        assert seen == set(CONDITIONS) - {"and-disjoint"}
    assert ruleset.errors == 0


def test_the_open_bucket_is_split_on_the_path() -> None:
    result = load_ruleset_texts([("p.yaml", _rules_yaml())], RuleMatching.ALL)
    pairs = result.ruleset.specialised("syscall", "openat")
    chosen = plan("syscall", list(pairs))
    assert chosen is not None
    assert isinstance(chosen.key, PrefixKey)
    by_class = {cls: {pairs[i][0].name for i in idx} for vals, idx in chosen.groups for cls in vals}
    assert "" not in by_class  # unlisted paths take the "other" route
    by_class[""] = {pairs[i][0].name for i in chosen.other}
    # a path under no listed prefix leaves only rules that need no prefix
    assert {"contains", "ne", "or-any"} <= by_class[""]
    assert not {"eq", "starts", "dir-eq", "pmatch"} & by_class[""]
    assert {"eq", "starts", "dir-eq"} <= by_class["/etc/shadow"]
    assert "starts-anyof" not in by_class["/etc/shadow"]
    assert "not-exists" in by_class[None]
    assert "eq" not in by_class[None]


def _cond(text: str) -> ast.Expr:
    return parse(text)


@pytest.mark.parametrize(
    ("condition", "items", "na"),
    [
        ("fd.name = /a", {"/a"}, False),
        ("fd.name startswith /a and fd.name startswith /a/b", {"/a/b"}, False),
        ("fd.name startswith /a and fd.name startswith /c", set(), False),
        ("fd.name startswith /a or fd.name = /c", {"/a", "/c"}, False),
        ("fd.name startswith /a or proc.name = x", None, True),
        ("not fd.name != /a", {"/a"}, True),
        ("not (fd.name startswith /a or fd.name startswith /b)", None, True),
        ("fd.name glob '/dev/sd[a-z]'", {"/dev/sd"}, False),
        ("fd.name glob '*x'", None, True),
        ("fd.name pmatch (/a/, /b)", {"/a", "/b"}, False),
        ("fd.name pmatch (/)", None, True),
        ("fd.directory = /d", {"/d"}, False),
        ("not fd.directory != /d", None, True),
        ("fd.name endswith /a", None, True),
        ("fd.nameraw startswith /a", None, True),
    ],
)
def test_where_a_condition_can_be_true(condition: str, items: set[str] | None, na: bool) -> None:
    found = can_be(_cond(condition))
    assert (None if found.items is None else set(found.items)) == items
    assert found.na is na


def test_classes_are_the_longest_listed_prefix() -> None:
    classify = Classifier(frozenset(("/etc", "/etc/ssh", "/usr/lib")))
    assert classify("/etc/ssh/sshd_config") == "/etc/ssh"
    assert classify("/etc/hosts") == "/etc"
    assert classify("/etcetera") == "/etc"
    assert classify("/usr/li") == ""
    assert classify(None) is None


def test_the_class_cache_is_bounded() -> None:
    classify = Classifier(frozenset(("/a",)))
    for i in range(prefix.CACHE_SIZE * 2 + 5):
        assert classify(f"/a/{i}") == "/a"
    assert len(classify.cache) <= prefix.CACHE_SIZE
    assert classify("/b") == ""
