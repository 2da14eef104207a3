"""The fast loader builds exactly what PyYAML's safe loader builds, and locates every node."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
import yaml

from mamori.posture.model import Manifest, Position
from mamori.posture.yamlload import (
    Chunk,
    NodeMarks,
    expand,
    load_text,
    parse_chunk,
    split_documents,
)

DOCS = [
    "a: 1\nb: [1, 2, {c: d}]\n",
    # YAML 1.1 scalars: ints in every base, sexagesimal, floats, booleans, nulls, quoting
    "i: [0o17, 0x1F, 1_000, -3, +4, '5', 1:30, 017]\n"
    "f: [1.5, .inf, -.Inf, 1e3, 6.02e+23, '1.0']\n"
    "b: [yes, No, on, OFF, true, 'true', y, n]\n"
    "n: [~, null, Null, '', \"\"]\n",
    "empty:\nflow: {a: [], b: {}}\nblock: |\n  two\n  lines\nfolded: >\n  one\n  line\n",
    # anchors, aliases and merge keys (the Gatekeeper/Helm style and PyYAML's own dumps)
    "base: &b {cpu: 1, memory: 2Gi}\nlimits: *b\nrequests:\n  <<: *b\n  cpu: 2\n",
    "labels: &id001 {app: x}\nselector: {matchLabels: *id001}\n",
    # tags the fast path leaves to PyYAML
    "when: 2026-01-02\nstamp: 2026-01-02T03:04:05Z\nraw: !!binary aGk=\nset: !!set {a, b}\n",
    "s: !!str 123\ni: !!int '7'\n",
    "- 1\n- [2, 3]\n- {k: v}\n",
    '{"apiVersion": "v1", "kind": "Pod", "spec": {"n": [1, 2.5, true, null]}}',
    'key with spaces: v\n\'quoted key\': w\n"dq": "a\\tb"\n',
]


@pytest.mark.parametrize("text", DOCS)
def test_values_equal_pyyaml_safe_load(text: str) -> None:
    value, _, problem = parse_chunk(Chunk(text, 0), "t.yaml")
    assert problem is None
    assert value == yaml.load(text, Loader=yaml.SafeLoader)


def test_aliases_share_objects_as_pyyaml_does() -> None:
    value, _, _ = parse_chunk(Chunk("a: &x [1]\nb: *x\n", 0), "t.yaml")
    assert value["a"] is value["b"]


def test_unhashable_key_is_a_located_error() -> None:
    _, _, problem = parse_chunk(Chunk("ok: 1\n? [a, b]\n: v\n", 4), "t.yaml")
    assert problem is not None
    assert problem.code == "PST001"
    assert "unhashable" in problem.message
    assert problem.location.line is not None
    assert problem.location.line >= 5


def _positions(
    node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], Position]
) -> None:
    """Every node's position the slow way: a full walk of PyYAML's own node tree."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*path, k.value)] = Position(k.start_mark.line + 1, k.start_mark.column + 1)
            _positions(v, (*path, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = Position(item.start_mark.line + 1, item.start_mark.column + 1)
            _positions(item, (*path, i), out)


WORKLOAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: {app: d}}
spec:
  template:
    metadata:
      annotations: {a: b}
    spec:
      containers:
      - name: c
        image: nginx
        securityContext:
          privileged: true
          capabilities: {add: [SYS_ADMIN]}
      - {name: e, image: busybox}
"""


def test_lazy_marks_match_a_full_walk() -> None:
    _, marks, _ = parse_chunk(Chunk(WORKLOAD, 0), "t.yaml")
    assert isinstance(marks, NodeMarks)
    expected: dict[tuple[Any, ...], Position] = {(): Position(1, 1)}
    _positions(yaml.compose(WORKLOAD), (), expected)
    assert dict(marks) == expected
    for path, pos in expected.items():
        assert marks[path] == pos
        assert marks.nearest(path) == (pos, path)
    missing = ("spec", "template", "spec", "containers", 1, "securityContext", "privileged")
    assert marks.get(missing) is None
    assert marks.nearest(missing) == (expected[missing[:5]], missing[:5])


def test_second_document_lines_and_list_items() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n"
        "  metadata: {name: p}\n  spec:\n    containers: [{name: c, image: x}]\n"
    )
    found = [m for m in load_text(text, "t.yaml") if isinstance(m, Manifest)]
    assert [m.name for m in found] == ["a", "p"]
    pod = found[1]
    assert pod.locate(())[0] == Position(8, 3)
    assert pod.locate(("spec", "containers", 0, "image"))[0] == Position(12, 28)
    assert pod.locate(("spec", "containers", 0, "nope")) == (
        Position(12, 18),
        ("spec", "containers", 0),
    )


HELM_STREAM = """---
# Source: chart/templates/sa.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
# Source: chart/templates/empty.yaml
# nothing rendered
--- # a comment on the marker
# Source: chart/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: &n web
  labels: {app: *n}
spec:
  template:
    spec:
      containers:
      - {name: c, image: nginx}
---
"""


def test_whole_stream_and_per_document_reading_agree() -> None:
    """A stream parsed at once (fast) gives what document-by-document parsing gives."""
    fast = [m for m in load_text(HELM_STREAM, "s.yaml") if isinstance(m, Manifest)]
    slow: list[Manifest] = []
    for index, chunk in enumerate(split_documents(HELM_STREAM)):
        value, marks, problem = parse_chunk(chunk, "s.yaml")
        assert problem is None
        if value is not None:
            helm = re.search(r"^# Source: (.+?)\s*$", chunk.text, re.MULTILINE)
            found = expand(value, marks, "s.yaml", index, helm and helm.group(1), 1)
            slow += [m for m in found if isinstance(m, Manifest)]
    assert [(m.obj, m.doc_index, m.helm_source) for m in fast] == [
        (m.obj, m.doc_index, m.helm_source) for m in slow
    ]
    assert fast[1].helm_source == "chart/templates/deploy.yaml"
    assert fast[1].obj["metadata"]["labels"] == {"app": "web"}
    for a, b in zip(fast, slow, strict=True):
        assert dict(a.marks) == dict(b.marks)
    assert fast[1].locate(("spec", "template", "spec", "containers", 0, "image"))[0] == (
        Position(20, 19)
    )


def _split_line_by_line(text: str) -> list[Chunk]:
    """The reference: every line tested against the document marker."""
    marker = re.compile(r"^---(?:[ \t].*)?$")
    chunks, start, lines = [], 0, text.split("\n")
    for i, line in enumerate(lines):
        if marker.match(line.rstrip("\r")) and i > 0:
            chunks.append(Chunk("\n".join(lines[start:i]), start))
            start = i
    chunks.append(Chunk("\n".join(lines[start:]), start))
    return chunks


def test_split_documents_matches_a_line_by_line_split() -> None:
    pieces = ["---", "\n", "a", " ", "\r", "\t", "-", "# x", "--- # c"]
    rng = random.Random(7)
    texts = ["", "---", "a: 1\n---\nb: 2\n", "a\r\n---\r\nb\r\n", HELM_STREAM, WORKLOAD]
    texts += ["".join(rng.choice(pieces) for _ in range(24)) for _ in range(3000)]
    for text in texts:
        assert split_documents(text) == _split_line_by_line(text), repr(text)
