"""Malformed rules give located diagnostics, collected, never a traceback."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.rules.diagnostics import Diagnostic
from mamori.rules.engine import load_ruleset_texts
from mamori.rules.errors import ConditionParseError
from mamori.rules.parser import MAX_DEPTH, parse


def _diags(text: str) -> list[Diagnostic]:
    return load_ruleset_texts([("bad.yaml", text)]).diagnostics


def _errors(text: str) -> list[tuple[str, int, int]]:
    return [(d.code.code, d.location.line, d.location.col) for d in _diags(text) if d.is_error]


RULE = """- rule: r
  desc: d
  condition: {cond}
  output: o
  priority: INFO
"""


def test_bad_yaml_is_located() -> None:
    assert _errors("- rule: r\n  desc: [unclosed\n") == [("R004", 3, 1)]


def test_unknown_field_points_at_the_field() -> None:
    text = RULE.format(cond="evt.type = execve and proc.nme = sh")
    assert _errors(text) == [("R001", 3, 36)]


def test_unknown_macro_points_at_the_reference() -> None:
    text = RULE.format(cond="evt.type = execve and not_a_macro")
    assert _errors(text) == [("R002", 3, 36)]


def test_syntax_error_in_a_folded_condition_points_at_its_line() -> None:
    text = """- rule: r
  desc: d
  condition: >
    evt.type = execve
    and proc.name = sh and
  output: o
  priority: INFO
"""
    (diag,) = [d for d in _diags(text) if d.is_error]
    assert diag.code.code == "R003"
    assert diag.location.line == 5


def test_wrong_types_and_missing_keys() -> None:
    text = """- rule: r1
  desc: d
  condition: evt.type = execve
  output: o
  priority: loud
- rule: r2
  desc: d
  condition: evt.type = execve
  output: o
  priority: INFO
  enabled: sometimes
- rule: r3
  desc: d
  output: o
  priority: INFO
- list: l
  items: notalist
- macro: m
  condition: [not, a, string]
"""
    assert _errors(text) == [
        ("R008", 5, 13),
        ("R005", 11, 12),
        ("R006", 12, 3),
        ("R005", 17, 10),
        ("R005", 19, 14),
    ]


def test_five_problems_report_five() -> None:
    text = "\n".join(
        [
            RULE.format(cond="proc.nme = a").replace("rule: r", "rule: a"),
            RULE.format(cond="evt.type = execve and nope").replace("rule: r", "rule: b"),
            RULE.format(cond="proc.name = (").replace("rule: r", "rule: c"),
            RULE.format(cond="proc.pid = abc").replace("rule: r", "rule: d"),
            "- list: l\n  items: [a]\n  append: true\n",
        ]
    )
    codes = sorted(code for code, _, _ in _errors(text))
    assert codes == ["R001", "R002", "R003", "R008", "R009"]


def test_unknown_source_is_a_warning_and_skipped() -> None:
    text = RULE.format(cond="ct.name = x") + "  source: aws_cloudtrail\n"
    result = load_ruleset_texts([("r.yaml", text)])
    assert result.ok
    assert [d.code.code for d in result.diagnostics] == ["W001"]
    assert result.rules == []


def test_bad_exception_is_reported() -> None:
    text = RULE.format(cond="evt.type = execve") + (
        "  exceptions:\n    - name: e\n      fields: [proc.name, proc.cwd]\n"
        "      values: [[only-one]]\n"
    )
    assert [c for c, _, _ in _errors(text)] == ["R011"]


def test_macro_cycle() -> None:
    text = "- macro: a\n  condition: b\n- macro: b\n  condition: a\n" + RULE.format(cond="a")
    assert "R010" in [c for c, _, _ in _errors(text)]


def test_deep_nesting_is_capped() -> None:
    deep = "(" * 500 + "a" + ")" * 500
    with pytest.raises(ConditionParseError, match="max depth"):
        parse(deep)
    assert [c for c, _, _ in _errors(RULE.format(cond=f"'{deep}'"))] == ["R003"]
    # Like libsinsp, each parenthesis level costs several depth units: 10 levels parse.
    assert parse("(" * 10 + "a" + ")" * 10) == parse("a")
    assert MAX_DEPTH == 100


def test_one_megabyte_condition() -> None:
    cond = " or ".join(f"proc.name = n{i}" for i in range(60_000))
    assert len(cond) > 1_000_000
    result = load_ruleset_texts(
        [("big.yaml", RULE.format(cond="evt.type = execve and (" + cond + ")"))]
    )
    assert result.ok
    broken = cond + " or"
    errors = _errors(RULE.format(cond=broken))
    assert [c for c, _, _ in errors] == ["R003"]


_ALPHABET = string.ascii_letters + string.digits + " ()[]=!<>,.'\"\\\n\t-_/*:%"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET, max_size=80))
def test_fuzz_parser_never_crashes(text: str) -> None:
    position = None
    try:
        parse(text)
    except ConditionParseError as exc:
        position = exc.pos.idx
    assert position is None or 0 <= position <= len(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(RULE.format, cond=st.text(alphabet=_ALPHABET, max_size=60)),
    )
)
def test_fuzz_loader_only_diagnoses(text: str) -> None:
    result = load_ruleset_texts([("fuzz.yaml", text)])
    for d in result.diagnostics:
        assert d.location.file == "fuzz.yaml"
        assert str(d)
