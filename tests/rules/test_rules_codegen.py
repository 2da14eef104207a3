"""Generated bucket code and the field index agree with the reference evaluator.

The golden cases are small; here the stock syscall rules run against a few thousand varied events
(values drawn from the rules' own lists, so the index's named partitions are reached, plus events
missing process, container, file or network), in both rule-matching modes.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import MappingProxyType

import pytest

from mamori.core.events import (
    ContainerInfo,
    Event,
    EventKind,
    FileInfo,
    K8sInfo,
    NetworkInfo,
    ProcessInfo,
)
from mamori.rules import ast
from mamori.rules.codegen import INLINE, INLINE_NS
from mamori.rules.engine import LoadResult, load_ruleset, load_ruleset_texts
from mamori.rules.interp import evaluate
from mamori.rules.operands import compile_operand
from mamori.rules.parser import parse
from mamori.rules.ruleset import RuleMatching

RULES_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "falco" / "rules"
)
SYSCALL_FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]


def _load(matching: RuleMatching) -> LoadResult:
    return load_ruleset([RULES_DIR / f for f in SYSCALL_FILES], matching)


def _literals(result: LoadResult) -> list[str]:
    out: set[str] = set()
    for rule in result.rules:
        for node in ast.walk(rule.expr):
            if isinstance(node, ast.BinaryCheck):
                if isinstance(node.right, ast.ListLiteral):
                    out.update(node.right.items)
                elif isinstance(node.right, ast.Literal):
                    out.add(node.right.text)
    return sorted(out)


def _events(n: int, words: list[str], seed: int = 3) -> list[Event]:
    rnd = random.Random(seed)

    def word() -> str:
        return rnd.choice(words) if rnd.random() < 0.6 else rnd.choice(("node", "x", "", "java"))

    listed = [w for w in words if w.startswith("/")]
    # Around each listed path too (below it, extending it, one short of it): the prefix index
    # sorts paths by the longest listed prefix they start with.
    near = [v for w in listed for v in (w + "/x", w + "x", w[:-1]) if v]
    paths = listed + near + ["/tmp/a", "/etc/", "/", "/root/.ssh/k"]
    types = ["execve", "open", "openat", "openat2", "connect", "accept", "setuid", "ptrace",
             "unlinkat", "renameat2", "symlink", "mkdir", "sendto", "bind", "dup2",
             "memfd_create"]  # fmt: skip
    out = []
    for i in range(n):
        grand = ProcessInfo(pid=1, name=word()) if rnd.random() < 0.5 else None
        parent = ProcessInfo(pid=2, name=word(), exe=rnd.choice((None, word())), args=("-c",),
                             parent=grand)  # fmt: skip
        proc = None
        if rnd.random() < 0.95:
            proc = ProcessInfo(
                pid=10 + i, name=word(), exepath=rnd.choice(("", "/usr/bin/" + word())),
                args=tuple(word() for _ in range(rnd.randrange(3))),
                pname=rnd.choice((None, word())),
                anames=tuple(word() for _ in range(rnd.randrange(4))),
                cwd=rnd.choice((None, rnd.choice(paths))), tty=rnd.choice((None, 0, 34816)),
                uid=rnd.choice((None, 0, 1000)), user=rnd.choice((None, word())),
                loginuid=rnd.choice((None, -1, 0, 1000)), vpid=rnd.choice((None, 1, 7)),
                exe=rnd.choice((None, word(), "/dev/shm/x")), parent=rnd.choice((None, parent)),
                env=rnd.choice(((), ("HTTP_PROXY=x", "A=b"))),
                exe_flags=MappingProxyType({k: rnd.random() < 0.3 for k in
                                            ("upper_layer", "from_memfd")}),
                cap_permitted=rnd.choice((None, ("CAP_SYS_ADMIN",))),
                cap_effective=rnd.choice((None, ("CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"))),
            )  # fmt: skip
        c = None
        if rnd.random() < 0.7:
            c = ContainerInfo(id=f"{i:064x}", image_repository=rnd.choice((None, word())),
                              privileged=rnd.choice((None, True, False)))  # fmt: skip
        kw: dict[str, object] = {}
        r = rnd.random()
        if r < 0.5:
            flags = rnd.choice((("O_RDONLY",), ("O_WRONLY", "O_CREAT"), ("O_RDWR", "O_TRUNC"), ()))
            kw["file"] = FileInfo(path=rnd.choice(paths), flags=flags,
                                  directory=rnd.random() < 0.1, fd=rnd.choice((None, 3, -1)),
                                  mode=rnd.choice((None, 0o755)))  # fmt: skip
        elif r < 0.8:
            dst = rnd.choice(("10.0.0.1", "127.0.0.1", "169.254.169.254", "8.8.8.8", "::1", None))
            kw["network"] = NetworkInfo(
                rnd.choice(("tcp", "udp", "unix")), dst_ip=dst,
                dst_port=rnd.choice((22, 53, 443, None)),
                src_ip=rnd.choice(("10.1.0.9", "0.0.0.0", None)), src_port=40000,
                dst_name=rnd.choice((None, "kubernetes.default.svc.cluster.local")),
            )  # fmt: skip
        out.append(Event(
            kind=EventKind.FILE_OPEN, time_ns=1_700_000_000 + i, syscall=rnd.choice(types),
            result=rnd.choice(("SUCCESS", "EPERM", "EINPROGRESS", None)), node="n", process=proc,
            container=c, k8s=K8sInfo(namespace=rnd.choice(("kube-system", "x"))) if c else None,
            num=rnd.choice((None, 0, i + 1)), **kw,  # type: ignore[arg-type]
        ))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def corpus() -> list[Event]:
    return _events(1500, _literals(_load(RuleMatching.ALL)))


@pytest.mark.parametrize("matching", [RuleMatching.ALL, RuleMatching.FIRST])
def test_stock_rules_agree_with_the_reference_evaluator(
    corpus: list[Event], matching: RuleMatching
) -> None:
    result = _load(matching)
    ruleset = result.ruleset
    matched = 0
    for event in corpus:
        expected = [r.name for r in ruleset.rules if r.source == event.source
                    and evaluate(r.expr, event, r.source)]  # fmt: skip
        if matching is RuleMatching.FIRST:
            expected = expected[:1]
        assert [m.rule.name for m in ruleset.match(event)] == expected
        matched += bool(expected)
    assert matched > 50  # the corpus reaches the rules, not just their first checks
    assert ruleset.errors == 0


def test_inline_fields_equal_their_extractors(corpus: list[Event]) -> None:
    for name, template in INLINE.items():
        ref = parse(f"{name} exists")
        assert isinstance(ref, ast.UnaryCheck)
        extract = compile_operand("syscall", ref.left).extract
        code = compile(template, f"<{name}>", "eval")
        for event in corpus:
            assert eval(code, dict(INLINE_NS), {"e": event}) == extract(event), name


def test_an_error_in_one_rule_is_counted_and_the_others_still_run() -> None:
    rules = """
- rule: bad
  desc: d
  condition: evt.type = execve and proc.args contains x
  output: o
  priority: INFO
- rule: good
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: o
  priority: INFO
"""
    result = load_ruleset_texts([("r.yaml", rules)], RuleMatching.ALL)
    ok = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
               process=ProcessInfo(pid=1, name="sh", args=("x",)))  # fmt: skip
    # args that are not text: " ".join raises TypeError inside the generated code
    bad = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
                process=ProcessInfo(pid=1, name="sh", args=(1,)))  # type: ignore[arg-type]  # fmt: skip
    assert [m.rule.name for m in result.ruleset.match(ok)] == ["bad", "good"]
    assert [m.rule.name for m in result.ruleset.match(bad)] == ["good"]
    assert result.ruleset.errors == 1
    assert [m.rule.name for m in result.ruleset.match(ok)] == ["bad", "good"]


def test_literals_never_become_code() -> None:
    nasty = '"); import os; os._exit(3); ("'
    rules = f"""
- list: odd
  items: ['{nasty}', "a\\nb"]
- rule: r
  desc: d
  condition: evt.type = execve and (proc.name in (odd) or proc.cmdline = '{nasty}')
  output: o
  priority: INFO
"""
    result = load_ruleset_texts([("r.yaml", rules)], RuleMatching.ALL)
    assert result.ok, [str(d) for d in result.errors]

    def run(name: str) -> list[str]:
        e = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
                  process=ProcessInfo(pid=1, name=name))  # fmt: skip
        return [m.rule.name for m in result.ruleset.match(e)]

    assert run(nasty) == ["r"]
    assert run("a\nb") == ["r"]
    assert run("sh") == []


def test_a_key_that_cannot_be_read_sends_the_event_through_every_rule() -> None:
    rules = """
- rule: by-name
  desc: d
  condition: evt.type = execve and proc.name in (sh, bash)
  output: o
  priority: INFO
- rule: by-user
  desc: d
  condition: evt.type = execve and user.name = root
  output: o
  priority: INFO
- rule: by-path
  desc: d
  condition: evt.type = openat and fd.name startswith /etc/
  output: o
  priority: INFO
- rule: by-other-path
  desc: d
  condition: evt.type = openat and fd.name startswith /usr/
  output: o
  priority: INFO
"""
    result = load_ruleset_texts([("r.yaml", rules)], RuleMatching.ALL)
    ruleset = result.ruleset
    ok = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
               process=ProcessInfo(pid=1, name="sh", user="root"))  # fmt: skip
    assert [m.rule.name for m in ruleset.match(ok)] == ["by-name", "by-user"]
    # a name that is not text (unhashable): the dispatcher cannot look it up
    odd = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
                process=ProcessInfo(pid=1, name=["sh"], user="root"))  # type: ignore[arg-type]  # fmt: skip
    assert [m.rule.name for m in ruleset.match(odd)] == ["by-user"]
    path = Event(kind=EventKind.FILE_OPEN, time_ns=1, syscall="openat",
                 file=FileInfo(path=["/etc/x"]))  # type: ignore[arg-type]  # fmt: skip
    assert ruleset.match(path) == []
    assert ruleset.errors == 3  # by-name on the odd name, both path rules on the odd path
    etc = Event(kind=EventKind.FILE_OPEN, time_ns=1, syscall="openat",
                file=FileInfo(path="/etc/x"))  # fmt: skip
    assert [m.rule.name for m in ruleset.match(etc)] == ["by-path"]
    assert [m.rule.name for m in ruleset.match(ok)] == ["by-name", "by-user"]


@pytest.mark.parametrize(
    "condition",
    [
        "proc.aname = sh",
        "proc.aname != sh",
        "proc.aname in (sh, bash)",
        "fd.ip = 10.0.0.1",
        "fd.ip != 0.0.0.0",
        "fd.port in (22, 443)",
        "fd.port != 22",
        "fd.net != 127.0.0.0/8",
    ],
)
def test_checks_on_candidate_fields_agree_with_the_reference(condition: str) -> None:
    """Fields holding several candidates (ancestors; client and server) are checked inline
    as tuple and set operations: true if the check holds for one candidate."""
    text = (
        f"- rule: r\n  desc: d\n  condition: evt.type in (execve, connect) and {condition}\n"
        "  output: o\n  priority: INFO\n"
    )
    ruleset = load_ruleset_texts([("c.yaml", text)], RuleMatching.ALL).ruleset
    events = []
    for anames in ((), ("sh",), ("sh", "sh"), ("node", "sh"), ("node",)):
        events.append(Event(kind=EventKind.PROCESS_EXEC, time_ns=1, syscall="execve",
                            process=ProcessInfo(pid=1, name="x", anames=anames)))  # fmt: skip
    for src, dst, sport, dport in (
        ("0.0.0.0", "0.0.0.0", 22, 22),
        ("10.0.0.1", None, 1, None),
        (None, None, None, None),
        ("127.0.0.1", "8.8.8.8", 5, 443),
    ):
        net = NetworkInfo("tcp", dst_ip=dst, dst_port=dport, src_ip=src, src_port=sport)
        events.append(Event(kind=EventKind.NETWORK_CONNECT, time_ns=1, syscall="connect",
                            network=net))  # fmt: skip
    outcomes = set()
    for event in events:
        expected = evaluate(ruleset.rules[0].expr, event, "syscall")
        assert bool(ruleset.match(event)) is expected, event
        outcomes.add(expected)
    assert outcomes == {True, False}


def test_prepare_builds_every_route_before_the_first_event(
    corpus: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor prepares the event types it emits: no event then waits for code to be built."""
    import mamori.rules.ruleset as ruleset_module

    ruleset = _load(RuleMatching.ALL).ruleset
    types = ("execve", "openat", "connect")
    ruleset.prepare(types)

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("code built at match time")

    monkeypatch.setattr(ruleset_module, "compile_bucket", no_build)
    seen = 0
    for event in corpus:
        if event.syscall not in types:
            continue
        expected = [r.name for r in ruleset.rules if evaluate(r.expr, event, r.source)]
        assert [m.rule.name for m in ruleset.match(event)] == expected
        seen += 1
    assert seen > 200
