"""Broken input is reported where it is (file:line) and the rest is still scanned."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.model import DiagnosticLevel
from mamori.posture.scan import Report, scan_paths
from mamori.posture.sources import files

POD = """apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  containers:
  - {name: c, image: nginx}
"""


def _scan(tmp_path: Path, name: str, text: str) -> Report:
    path = tmp_path / name
    path.write_text(text)
    return scan_paths([str(path)], load_config(None, select("MAM-K8S-015")))


# (file name, content, expected diagnostic code, its line, pods still scanned)
CASES = [
    ("broken.yaml", POD % "a" + "---\nkind: [unclosed\n---\n" + POD % "b", "PST001", 9, 2),
    ("tabs.yaml", POD % "a" + "---\nfoo:\n\tbar: 1\n", "PST001", 9, 1),
    (
        "unknown.yaml",
        "apiVersion: x/v1\nkind: Gizmo\nmetadata: {name: g}\n---\n" + POD % "a",
        "PST003",
        1,
        1,
    ),
    ("nokind.yaml", "metadata: {name: x}\n---\n" + POD % "a", "PST002", 1, 1),
    ("scalar.yaml", "just text\n---\n" + POD % "a", "PST002", 1, 1),
    (
        "nospec.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n---\n"
        + POD % "a",
        "PST004",
        1,
        1,
    ),
    (
        "bad.json",
        '{"apiVersion": "v1", "kind": "Pod",\n "metadata": {"name": "a"]}',
        "PST001",
        2,
        0,
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "code", "line", "scanned"), CASES, ids=[c[0] for c in CASES]
)
def test_problem_is_located_and_the_rest_scanned(
    tmp_path: Path, name: str, text: str, code: str, line: int, scanned: int
) -> None:
    report = _scan(tmp_path, name, text)
    assert [d.code for d in report.diagnostics] == [code]
    assert report.diagnostics[0].location.line == line
    assert report.diagnostics[0].location.file.endswith(name)
    assert len({r.resource.name for r in report.results}) == scanned


def test_malformed_yaml_is_an_input_error(tmp_path: Path) -> None:
    report = _scan(tmp_path, "x.yaml", "a: [\n")
    assert report.has_input_errors
    assert report.diagnostics[0].level is DiagnosticLevel.ERROR


def test_huge_file_is_refused_and_others_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_BYTES", 1000)
    (tmp_path / "huge.yaml").write_text("# pad\n" * 400 + POD % "h")
    (tmp_path / "ok.yaml").write_text(POD % "ok")
    config = load_config(None, select("MAM-K8S-015"))
    report = scan_paths([str(tmp_path)], config)
    assert [(d.code, Path(d.location.file).name) for d in report.diagnostics] == [
        ("PST006", "huge.yaml")
    ]
    assert {r.resource.name for r in report.results} == {"ok"}


def test_missing_fields_do_not_crash_checks(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - name: c\n    securityContext: null\n    ports: [{}]\n    resources: {limits: null}\n"
        "  - 42\n  volumes: [{name: v, hostPath: null}]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text)
    report = scan_paths([str(path)], load_config(None, select("all")))
    assert [r for r in report.results if r.status.value == "error"] == []


LISTS = [
    ("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- " + (POD % "a").replace("\n", "\n  ")),
    (
        "podlist.yaml",
        "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n"
        "  spec:\n    containers: [{name: c, image: x}]\n",
    ),
    (
        "array.json",
        '[{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, '
        '"spec": {"containers": [{"name": "c", "image": "x"}]}}]',
    ),
    ("comments.yaml", "# only a comment\n---\n---\n" + POD % "a"),
]


@pytest.mark.parametrize(("name", "text"), LISTS, ids=[c[0] for c in LISTS])
def test_lists_and_streams(tmp_path: Path, name: str, text: str) -> None:
    report = _scan(tmp_path, name, text)
    assert report.diagnostics == []
    assert [(r.resource.kind, r.resource.name) for r in report.results] == [("Pod", "a")]


def test_hidden_directories_are_skipped(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text(POD % "hidden")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "y.yml").write_text(POD % "seen")
    report = scan_paths([str(tmp_path)], load_config(None, select("MAM-K8S-015")))
    assert {r.resource.name for r in report.results} == {"seen"}


def test_helm_source_comment_is_kept(tmp_path: Path) -> None:
    report = _scan(tmp_path, "helm.yaml", "---\n# Source: chart/templates/pod.yaml\n" + POD % "a")
    assert report.results[0].location.helm_source == "chart/templates/pod.yaml"


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends_read_as_newlines(tmp_path: Path, newline: str) -> None:
    """Files are read as bytes and decoded; line ends must still come out as text mode's."""
    text = POD % "a" + "---\n" + POD % "b"
    unix = _scan(tmp_path, "unix.yaml", text)
    other = _scan(tmp_path, "other.yaml", text.replace("\n", newline))
    where = [(r.location.line, r.location.column, r.message) for r in unix.results]
    assert [(r.location.line, r.location.column, r.message) for r in other.results] == where
    assert len(where) == 2
