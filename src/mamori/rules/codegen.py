"""Code generation for a bucket: every candidate rule of one (source, evt.type) in one function.

The generated function evaluates the bucket's rules in load order as straight-line ``if``
statements and returns the matches. Inside it, per event:

* each operand (``proc.name``, ``fd.directory``, ``proc.aname[2]`` ...) is extracted at most
  once, lazily, at its first use, into a local (``_v3``; ``_U`` marks "not yet extracted");
* each sub-condition that occurs more than once in the bucket (a macro such as ``open_write``
  or ``container``, a repeated exception) is evaluated at most once, into a local (``_m2``);
* hot fields (``INLINE``) are expressions, not extractor calls;
* locals certainly set are read plainly and locals certainly unset are assigned without a test
  (static analysis, see ``BucketBuilder``); the function has one ``try`` and, on an exception,
  hands the event to a guarded variant where each rule has its own ``try``: a rule that raises
  (bad event data) is counted and skipped, the others still run.

Generated source contains only names the builder made (``_v3``, ``c12``, ``R4``) and Python
keywords: every constant (strings, sets, extractors, rules) is bound in the function's globals
namespace, never spliced into the source text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mamori.core.events import Event, EventKind
from mamori.rules import ast
from mamori.rules.compiler import _CODEGEN_MAX_DEPTH, _Builder, _depth, compile_condition
from mamori.rules.errors import CompileError
from mamori.rules.fields import evt as _evt
from mamori.rules.fields import fd as _fd
from mamori.rules.operands import Operand

# Evaluation errors caught per rule (bad event data); anything else is a bug and propagates.
ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError)
_UNSET = object()  # a local not computed yet for this event
# Checks whose evaluation costs more than reading a memo local: worth sharing when repeated.
_COSTLY_OPS = frozenset(("glob", "iglob", "regex", "icontains", "pmatch", "bcontains",
                         "bstartswith"))  # fmt: skip

BucketFn = Callable[[Event], list[Any]]


def _proc(attr: str) -> str:
    return f"(None if (p := e.process) is None else p.{attr})"


def _cont(attr: str) -> str:
    return f"(None if (c := e.container) is None else c.{attr})"


def _ip(attr: str) -> str:
    return f"(None if (n := e.network) is None or n.protocol == 'unix' else n.{attr})"


def _pair(client: str, server: str) -> str:
    # both ends that are known, client first (fd.ip, fd.net, fd.port)
    return (
        "(None if (n := e.network) is None or n.protocol == 'unix' else "
        f"((() if (y := n.{server}) is None else (y,)) if (x := n.{client}) is None else "
        f"((x,) if (y := n.{server}) is None else (x, y))))"
    )


_EXE_FLAGS = ("upper_layer", "lower_layer", "from_memfd", "writable")


def _exe_flag(flag: str) -> str:
    ppm = f"PPM_EXE_{flag.upper()}"
    return (
        "(None if (p := e.process) is None else (False if not (x := p.exe_flags) else "
        f"(True if x.get('{flag}') or x.get('{ppm}') else False)))"
    )


def _aname(n: int) -> str:
    # The n-th ancestor: from the recorded names when they reach that far, else up the parent
    # records (the walk unrolled: no call).
    walk = " and ".join(["(x := p.parent) is not None"] + ["(x := x.parent) is not None"] * (n - 1))
    return (
        "(None if (p := e.process) is None else "
        f"(p.anames[{n - 1}] if _len(p.anames) >= {n} else (x.name if {walk} else None)))"
    )


def _parent(value: str) -> str:
    return f"(None if (p := e.process) is None or (x := p.parent) is None else {value})"


# Hot fields as expressions over ``e`` (no call), equal to their extractors by construction and
# by tests/rules/test_rules_codegen.py. ``p``/``c``/``k``/``f``/``n``/``x``/``y`` are scratch
# locals, each assigned before it is read inside the same template. The first group is one
# attribute read: not worth a memo local.
CHEAP = {
    "evt.type": "e.syscall",
    "evt.num": "e.num",
    "evt.res": "e.result",
    "evt.rawtime": "e.time_ns",
    "evt.hostname": "e.node",
}
INLINE = {
    **CHEAP,
    "evt.rawres": "(0 if (x := e.result) == 'SUCCESS' else _rawres(e))",
    "evt.is_open_read": "(False if (f := e.file) is None or e.syscall not in _OPEN else "
    "('O_RDONLY' in (x := f.flags) or 'O_RDWR' in x))",
    "evt.is_open_write": "(False if (f := e.file) is None or e.syscall not in _OPEN else "
    "('O_WRONLY' in (x := f.flags) or 'O_RDWR' in x))",
    "proc.pid": _proc("pid"),
    "proc.vpid": _proc("vpid"),
    "proc.ppid": _proc("ppid"),
    "proc.name": _proc("name"),
    "proc.exe": "(None if (p := e.process) is None else (p.name if (x := p.exe) is None else x))",
    "proc.exepath": "(None if (p := e.process) is None else (p.exepath or None))",
    "proc.args": "(None if (p := e.process) is None else ' '.join(p.args))",
    "proc.cmdline": "(None if (p := e.process) is None else "
    "(' '.join((p.name, *x)) if (x := p.args) else p.name))",  # ProcessInfo.cmdline, no call
    "proc.cwd": _proc("cwd"),
    "proc.tty": _proc("tty"),
    "proc.sname": _proc("sname"),
    "proc.pname": "(None if (p := e.process) is None else (p.pname if p.pname is not None else "
    "(p.parent.name if p.parent else (p.anames[0] if p.anames else None))))",
    "user.uid": _proc("uid"),
    "user.name": _proc("user"),
    "user.loginuid": _proc("loginuid"),
    "group.gid": _proc("gid"),
    "container.id": "('host' if (c := e.container) is None else c.id[:12])",
    "container.full_id": _cont("id"),
    "container.name": _cont("name"),
    "container.image": _cont("image"),
    "container.image.repository": _cont("image_repository"),
    "container.image.tag": _cont("image_tag"),
    "container.privileged": _cont("privileged"),
    "k8s.ns.name": "(None if (k := e.k8s) is None else k.namespace)",
    "k8s.pod.name": "(None if (k := e.k8s) is None else k.pod_name)",
    "fd.name": "(f.path if (f := e.file) is not None else _net_name(e))",
    "fd.nameraw": "(None if (f := e.file) is None else f.path)",
    "fd.directory": "(None if (f := e.file) is None else (f.path if f.directory else "
    "((x := (y := f.path)[: y.rfind('/') + 1]).rstrip('/') or x)))",
    "fd.filename": "(None if (f := e.file) is None or f.directory else f.path.rpartition('/')[2])",
    "fd.typechar": "(('d' if f.directory else 'f') if (f := e.file) is not None else "
    "(None if (n := e.network) is None else ('u' if n.protocol == 'unix' else "
    "(None if (x := n.dst_ip or n.src_ip) is None else ('6' if ':' in x else '4')))))",
    "fd.num": "(_fd_num(e) if (f := e.file) is None or (x := f.fd) is None else x)",
    "fd.ip": _pair("src_ip", "dst_ip"),
    "fd.net": _pair("src_ip", "dst_ip"),
    "fd.port": _pair("src_port", "dst_port"),
    "fd.sip": _ip("dst_ip"),
    "fd.snet": _ip("dst_ip"),
    "fd.cip": _ip("src_ip"),
    "fd.cnet": _ip("src_ip"),
    "fd.sport": _ip("dst_port"),
    "fd.cport": _ip("src_port"),
    "fd.sip.name": _ip("dst_name"),
    "fd.cip.name": _ip("src_name"),
    "fd.l4proto": "(None if (n := e.network) is None or (x := n.protocol) not in _L4 else x)",
    "fd.sockfamily": "(None if (n := e.network) is None else "
    "('unix' if n.protocol == 'unix' else 'ip'))",
    **{f"proc.is_exe_{flag}": _exe_flag(flag) for flag in _EXE_FLAGS},
    **{f"proc.aname[{n}]": _aname(n) for n in range(2, 10)},
    "proc.pexe": _parent("(x.name if (y := x.exe) is None else y)"),
    "proc.pcmdline": _parent("x.cmdline"),
    "proc.env": "(None if (p := e.process) is None else (' '.join(x) if (x := p.env) else None))",
    "evt.arg.flags": "(x if (x := e.args.get('flags')) is not None else "
    "(_exe_flags_text(e) if e.kind is _EXEC else "
    "('|'.join(x) if (f := e.file) is not None and (x := f.flags) else None)))",
}
INLINE["evt.arg[flags]"] = INLINE["evt.arg.flags"]
INLINE_NS: dict[str, Any] = {
    "_rawres": _evt.rawres,
    "_OPEN": _evt._OPEN_TYPES,
    "_net_name": _fd._net_name,
    "_fd_num": _fd._fd_num,
    "_L4": frozenset(("tcp", "udp", "icmp", "raw")),
    "_len": len,
    "_exe_flags_text": _evt.exe_flags_text,
    "_EXEC": EventKind.PROCESS_EXEC,
}


class BucketBuilder(_Builder):
    """Builds the source of one bucket function; see the module docstring.

    ``static``: track, while generating in evaluation order, which locals are certainly set
    (read them plainly) and which are certainly not set yet (compute without a test); only the
    others are tested against ``_U``. That reasoning holds when nothing raises, so the static
    function gives up on any exception and the caller re-runs the event through the non-static
    one, where every rule has its own ``try``.
    """

    def __init__(self, source: str, shared: set[ast.Expr], static: bool) -> None:
        super().__init__(source)
        self.ns["_U"] = _UNSET
        self.ns["_ERR"] = ERRORS
        self.ns.update(INLINE_NS)
        self.fields: dict[str, str] = {}  # operand text -> local name
        self.shared = shared  # sub-conditions to memoise
        self.memos: dict[ast.Expr, str] = {}
        self.static = static
        self.done: set[str] = set()  # locals certainly set at this point of the code
        self.seen: set[str] = set()  # locals possibly set at this point
        self.tested: set[str] = set()  # locals read behind a test: initialised to _U
        self._consts: dict[Any, str] = {}

    def bind(self, value: Any, prefix: str) -> str:
        # Equal constants share a name (the same list in many rules, a literal per check).
        if isinstance(value, str | int | float | frozenset) and not isinstance(value, bool):
            key: Any = (type(value), value)
            name = self._consts.get(key)
            if name is None:
                name = self._consts[key] = super().bind(value, prefix)
            return name
        return super().bind(value, prefix)

    def _local(self, local: str, compute: str) -> str:
        if local in self.done:
            return local
        if not self.static or local in self.seen:
            self.tested.add(local)
            out = f"({local} if {local} is not _U else ({local} := {compute}))"
        else:
            out = f"({local} := {compute})"
        self.done.add(local)
        self.seen.add(local)
        return out

    def value(self, left: Operand) -> str:
        cheap = CHEAP.get(left.text)
        if cheap is not None:
            return cheap
        inline = INLINE.get(left.text)
        key = inline or left.text  # fields read alike (fd.ip, fd.net) share one local
        local = self.fields.get(key)
        if local is None:
            local = self.fields[key] = f"_v{len(self.fields)}"
            self.ns[f"x{local}"] = left.extract
        if local in self.done:
            return local
        return self._local(local, inline or f"x{local}(e)")

    def code(self, node: ast.Expr) -> str:
        if node in self.shared:
            local = self.memos.get(node)
            if local is None:
                local = self.memos[node] = f"_m{len(self.memos)}"
            if local in self.done:
                return local
            before = set(self.done)
            inner = self._code(node)
            if self.static and local not in self.seen:
                # Computed right here, always: keep what its evaluation certainly set.
                self.done.add(local)
                self.seen.add(local)
                return f"({local} := {inner})"
            self.done = before  # may be skipped (memo already set): only the memo is sure
            return self._local(local, inner)
        return self._code(node)

    def _code(self, node: ast.Expr) -> str:
        if isinstance(node, ast.And | ast.Or):
            parts = [self.code(node.children[0])]
            after_first = set(self.done)  # later operands may be skipped
            parts += [self.code(c) for c in node.children[1:]]
            self.done = after_first
            word = " and " if isinstance(node, ast.And) else " or "
            return "(" + word.join(parts) + ")"
        if isinstance(node, ast.Not):
            return f"(not {self.code(node.child)})"
        if isinstance(node, ast.MacroRef):
            raise CompileError("R002", f"undefined macro '{node.name}'", node.pos)
        return self.check_code(node)


def shared_subtrees(trees: Sequence[ast.Expr]) -> set[ast.Expr]:
    """Sub-conditions worth memoising: compound ones, and costly checks, met twice or more.

    Met in evaluation order: a sub-condition met again is read from its memo, so what lies
    inside it is not met again (and needs no memo of its own unless it occurs elsewhere too).
    """
    seen: Counter[ast.Expr] = Counter()
    stack: list[ast.Expr] = list(reversed(trees))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.And | ast.Or | ast.Not) or (
            isinstance(node, ast.BinaryCheck) and _costly(node)
        ):
            seen[node] += 1
            if seen[node] > 1:
                continue
        if isinstance(node, ast.And | ast.Or):
            stack.extend(reversed(node.children))
        elif isinstance(node, ast.Not):
            stack.append(node.child)
    return {n for n, count in seen.items() if count > 1}


def _costly(node: ast.BinaryCheck) -> bool:
    right = node.right
    return (
        node.op in _COSTLY_OPS
        or node.modifier is not None
        or isinstance(right, ast.FieldRef | ast.Transform | ast.Join)
        or (isinstance(right, ast.Literal) and "/" in right.text)  # maybe a network
        or (isinstance(right, ast.ListLiteral) and any("/" in i for i in right.items))
    )


@dataclass(frozen=True, slots=True)
class Prologue:
    """Code run first in a bucket function: the index's dispatch, which returns another
    function's result for events routed elsewhere and falls through for this function's own
    rules (saving one call on the index's most common route)."""

    lines: tuple[str, ...]
    ns: dict[str, Any]


def compile_bucket(
    rules: Sequence[tuple[Any, ast.Expr | bool]],
    source: str,
    first: bool,
    make_match: Callable[[Any, Event], Any],
    on_error: Callable[[], None],
    prologue: Prologue | None = None,
) -> BucketFn:
    """One function ``f(event) -> [match, ...]`` for ``(rule, folded condition)`` pairs.

    ``first``: return at the first match (Falco's default rule matching). The function is the
    static variant; on an exception it defers to the guarded variant (built on first need),
    which counts the failing rules through ``on_error`` and evaluates the others. A
    ``prologue`` runs first in the static variant only (the guarded one is reached from inside
    it, after the dispatch).
    """
    rules = [(r, t) for r, t in rules if t is not False]
    if not rules and prologue is None:
        return _no_match
    trees = [t for _, t in rules if not isinstance(t, bool) and _depth(t) <= _CODEGEN_MAX_DEPTH]
    shared = shared_subtrees(trees)
    guarded: BucketFn | None = None

    def slow(e: Event) -> list[Any]:
        nonlocal guarded
        if guarded is None:
            guarded = _generate(rules, source, first, make_match, on_error, shared, None)
        return guarded(e)

    return _generate(rules, source, first, make_match, on_error, shared, slow, prologue)


_LOCAL = re.compile(r"\b_[vm]\d+\b")


def _drop_unread(text: str, tested: set[str]) -> str:
    """Locals stored but never read again (a field or sub-condition used once in the bucket)
    lose their store: ``(_v7 := x)`` becomes ``(x)``. Fewer stores, and fewer locals for the
    frame to clear on return."""
    uses = Counter(_LOCAL.findall(text))
    for name, count in uses.items():
        if count == 1 and name not in tested:
            text = text.replace(f"({name} := ", "(", 1)
    return text


def _no_match(e: Event) -> list[Any]:
    return []


def _generate(
    rules: Sequence[tuple[Any, ast.Expr | bool]],
    source: str,
    first: bool,
    make_match: Callable[[Any, Event], Any],
    on_error: Callable[[], None],
    shared: set[ast.Expr],
    fallback: BucketFn | None,
    prologue: Prologue | None = None,
) -> BucketFn:
    """The static variant when ``fallback`` is given (one ``try``, deferring to it), else the
    guarded one (one ``try`` per rule)."""
    static = fallback is not None
    builder = BucketBuilder(source, shared, static)
    ns = builder.ns
    if prologue is not None:
        ns.update(prologue.ns)
    ns["M"] = make_match
    ns["err"] = on_error
    ns["slow"] = fallback
    pad = "            "
    body: list[str] = []
    for i, (rule, tree) in enumerate(rules):
        ns[f"R{i}"] = rule
        if tree is True:
            cond = "True"
        elif not isinstance(tree, bool) and _depth(tree) <= _CODEGEN_MAX_DEPTH:
            cond = builder.code(tree)
        else:  # too deep for Python's parser: the per-rule fallback (composed closures)
            assert not isinstance(tree, bool)
            ns[f"C{i}"] = compile_condition(tree, source)
            cond = f"C{i}(e)"
        hit = f"return [M(R{i}, e)]" if first else f"hits.append(M(R{i}, e))"
        if static:
            body += [f"        if {cond}:", f"{pad}{hit}"]
        else:
            body += ["    try:", f"        if {cond}:", f"{pad}{hit}",
                     "    except _ERR:", "        err()"]  # fmt: skip
    if static and body:
        body = ["    try:", *body, "    except _ERR:", "        return slow(e)"]
    head = ["def bucket(e):", *(prologue.lines if prologue is not None else ())]
    tested = sorted(builder.tested)
    if tested:
        head.append("    " + " = ".join(tested) + " = _U")
    if not first:
        head.append("    hits = []")
    text = "\n".join([*head, *body, "    return []" if first else "    return hits"])
    text = _drop_unread(text, builder.tested)
    exec(compile(text, "<mamori-bucket>", "exec"), ns)  # noqa: S102 - generated, no user text
    fn: BucketFn = ns["bucket"]
    return fn
