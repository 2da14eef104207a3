"""libsinsp's parser vectors (../shared/conformance/falco/parser_vectors.json) vs our parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mamori.rules import ast
from mamori.rules.errors import ConditionParseError
from mamori.rules.parser import parse

VECTORS_PATH = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "falco"
) / "parser_vectors.json"
DATA: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
VECTORS: list[dict[str, Any]] = DATA["vectors"]
POS_INFO = set(DATA["semantics"]["pos_info_conditions"])
ACCEPT = [v["condition"] for v in VECTORS if v["accept"]]
REJECT = [v["condition"] for v in VECTORS if not v["accept"]]


def test_counts_match_the_index() -> None:
    assert len(ACCEPT) == DATA["counts"]["accept"]
    assert len(REJECT) == DATA["counts"]["reject"]


@pytest.mark.parametrize("condition", ACCEPT)
def test_accepts(condition: str) -> None:
    tree = parse(condition)
    # The canonical form parses back to the same tree.
    assert parse(ast.to_str(tree)) == tree


@pytest.mark.parametrize("condition", [c for c in ACCEPT if c not in POS_INFO])
def test_accepts_padded_and_whitespace_variants(condition: str) -> None:
    padded = " " + condition + " "
    for variant in (padded, padded.replace(" ", "\n"), padded.replace(" ", "\t")):
        # Quoted values change with the blanks, so the trees differ; each must parse.
        assert isinstance(
            parse(variant),
            ast.And | ast.Or | ast.Not | ast.MacroRef | ast.UnaryCheck | ast.BinaryCheck,
        )


@pytest.mark.parametrize("condition", REJECT)
def test_rejects(condition: str) -> None:
    with pytest.raises(ConditionParseError) as info:
        parse(condition)
    # Every rejection is located inside (or just past) the input.
    assert info.value.pos.line >= 1
    assert 0 <= info.value.pos.idx <= len(condition)
