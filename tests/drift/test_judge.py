"""The judge's shared decision for image execs proven from their fstat (the rules-mode hot path)."""

from __future__ import annotations

import os

from mamori.drift.detector import DriftJudge, scope_context
from mamori.drift.policy import ScopeContext, default_policy
from mamori.drift.reload import PolicyHolder
from mamori.drift.verdict import Verdict, inode_proof


def ctx() -> ScopeContext:
    return scope_context(None, None, None, None, {}, None, None)


def test_an_inode_proof_is_the_judges_decision_shared_per_path_and_policy() -> None:
    holder = PolicyHolder()
    judge = DriftJudge(holder)
    first = judge.inode_proof("/bin/true")
    # What the full judgement of an indexed image exec gives (the fd is not read for it).
    full = judge.judge(-1, os.stat("/"), "/bin/true", None, ctx, image=True)
    assert first == full
    assert first.verdict == inode_proof("/bin/true")
    assert (first.verdict.verdict, first.action_taken, first.decision) == (
        Verdict.IMAGE,
        "none",
        None,
    )
    assert judge.inode_proof("/bin/true") is first  # built once
    deleted = judge.inode_proof("/bin/sh (deleted)")
    assert deleted.verdict.path == "/bin/sh"
    # counted as every decision is: the status and the benchmarks read these
    assert (judge.decisions, judge.engine.inode_proofs) == (4, 4)

    holder.policy = default_policy("block")  # a reload: the decision names the new policy
    after = judge.inode_proof("/bin/true")
    assert after is not first
    assert after.revision == holder.policy.revision
