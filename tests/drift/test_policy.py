"""Policy semantics as tables: first match, scopes, allow lists, expiry, located errors, reload."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mamori.drift.policy import ScopeContext, default_policy, normalize_image, parse_policy
from mamori.drift.reload import PolicyHolder
from mamori.drift.verdict import Verdict

POLICY = """\
apiVersion: mamori/v1
kind: DriftPolicy
metadata: {name: node-default}
rules:
  - name: trial-block-prod
    shadow: true
    action: block
    resource_scope: [{category: cluster_name, operator: starts_with, values: [prod-]}]
  - name: alert-on-kube-system
    action: alert
    resource_scope: [{category: namespace, operator: equals, values: [kube-system]}]
  - name: ci-runners
    action: ignore
    expires: "2099-03-31T00:00:00Z"
    resource_scope: [{category: namespace, operator: startsWith, values: [ci-, build-]}]
  - name: old
    action: ignore
    expires: "2001-01-01T00:00:00Z"
  - name: disabled-rule
    action: ignore
    enabled: false
  - name: shop-block
    action: block
    verdicts: [drift-new, drift-modified, drift-deleted]
    cloud_scope: [{provider: aws, accounts: ["111122223333"]}, {provider: gcp}]
    resource_scope:
      - {category: namespace, operator: equals, values: [shop, payments]}
      - {category: pod_labels, key: tier, operator: equals, values: [frontend, api]}
      - {category: image_name, operator: starts_with, values: ["registry.local/shop/"]}
      - {category: image_name, operator: starts_with, values: ["docker.io/library/shop"]}
      - {category: pod_name, operator: starts_with, values: [debug-], negate: true}
    allow_processes:
      - {path: /usr/local/bin/render-config, sha256: "%s"}
      - {name: envsubst}
      - {glob: "/opt/app/hooks/**"}
  - name: shop-volumes
    action: alert
    verdicts: [drift-volume]
    resource_scope: [{category: namespace, operator: equals, values: [shop]}]
default_rule: {name: default-binary-drift, action: block}
""" % ("a" * 64)

SHOP = ScopeContext(
    namespace="shop",
    pod_name="web-0",
    pod_labels={"tier": "frontend"},
    image="registry.local/shop/web:1.4.2",
    cluster_name="prod-eu-1",
    cloud_provider="aws",
    cloud_account="111122223333",
)


def _policy():  # type: ignore[no-untyped-def]
    policy, diags = parse_policy(POLICY, "p.yaml")
    assert diags == []
    assert policy is not None
    return policy


@pytest.mark.parametrize(
    ("ctx", "verdict", "path", "sha", "rule", "action", "allowlisted"),
    [
        (SHOP, Verdict.DRIFT_NEW, "/tmp/x", None, "shop-block", "block", False),
        (SHOP, Verdict.DRIFT_NEW, "/usr/bin/envsubst", None, "shop-block", "block", True),
        (SHOP, Verdict.DRIFT_NEW, "/opt/app/hooks/a/b", None, "shop-block", "block", True),
        (
            SHOP,
            Verdict.DRIFT_NEW,
            "/usr/local/bin/render-config",
            "a" * 64,
            "shop-block",
            "block",
            True,
        ),
        (
            SHOP,
            Verdict.DRIFT_NEW,
            "/usr/local/bin/render-config",
            "b" * 64,
            "shop-block",
            "block",
            False,
        ),
        # verdict filter: volume execs fall through to the next rule
        (SHOP, Verdict.DRIFT_VOLUME, "/data/x", None, "shop-volumes", "alert", False),
    ],
)
def test_first_match(ctx, verdict, path, sha, rule, action, allowlisted) -> None:  # type: ignore[no-untyped-def]
    d = _policy().evaluate(verdict, path, ctx, lambda: sha)
    assert (d.rule, d.action, d.allowlisted) == (rule, action, allowlisted)
    assert d.shadow == (("trial-block-prod", "block"),)


def _ctx(**kw: object) -> ScopeContext:
    base = {
        "namespace": SHOP.namespace, "pod_name": SHOP.pod_name, "pod_labels": SHOP.pod_labels,
        "image": SHOP.image, "cluster_name": SHOP.cluster_name, "cloud_provider": "aws",
        "cloud_account": "111122223333",
    }  # fmt: skip
    base.update(kw)
    return ScopeContext(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ctx", "rule"),
    [
        (_ctx(pod_name="debug-1"), "default-binary-drift"),  # negated condition matched
        (_ctx(pod_labels={"tier": "db"}), "default-binary-drift"),
        (_ctx(pod_labels={}), "default-binary-drift"),  # missing label = no match
        (_ctx(image="shop-web"), "shop-block"),  # normalised: docker.io/library/shop-web:latest
        (_ctx(image="other/web"), "default-binary-drift"),
        (_ctx(cloud_provider="gcp", cloud_account="any-project"), "shop-block"),
        (_ctx(cloud_provider="aws", cloud_account="999"), "default-binary-drift"),
        (_ctx(cloud_provider=None, cloud_account=None), "default-binary-drift"),
        (_ctx(namespace="kube-system"), "alert-on-kube-system"),
        (_ctx(namespace="ci-7"), "ci-runners"),
        (_ctx(namespace="payments"), "shop-block"),  # values OR
    ],
)
def test_scopes(ctx: ScopeContext, rule: str) -> None:
    assert _policy().evaluate(Verdict.DRIFT_NEW, "/tmp/x", ctx).rule == rule


def test_expired_and_disabled_rules_are_skipped() -> None:
    p = _policy()
    ctx = ScopeContext(namespace="x")  # matches 'old' and 'off' scopes (empty) if active
    d = p.evaluate(Verdict.DRIFT_NEW, "/tmp/x", ctx, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert d.rule == "default-binary-drift"
    d = p.evaluate(Verdict.DRIFT_NEW, "/tmp/x", ctx, now=datetime(2000, 1, 1, tzinfo=UTC))
    assert d.rule == "old"


def test_default_policy_as_shipped() -> None:
    p = default_policy()
    assert [r.name for r in p.all_rules] == ["alert-on-kube-system", "default-binary-drift"]
    ks = p.evaluate(Verdict.DRIFT_NEW, "/x", ScopeContext(namespace="kube-system"))
    assert (ks.rule, ks.action) == ("alert-on-kube-system", "alert")
    other = p.evaluate(Verdict.DRIFT_NEW, "/x", ScopeContext(namespace="default"))
    assert (other.rule, other.action) == ("default-binary-drift", "alert")
    assert default_policy("ignore").default.action == "ignore"


def test_normalize_image() -> None:
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("a/b:1") == "docker.io/a/b:1"
    assert normalize_image("registry.local:5000/a/b") == "registry.local:5000/a/b:latest"
    assert normalize_image("x@sha256:ab") == "docker.io/library/x@sha256:ab"


BAD = {
    "unknown category": (
        "rules:\n  - name: a\n    action: alert\n"
        "    resource_scope: [{category: node_name, operator: equals, values: [x]}]\n",
        "p.yaml:4:23: literal_error: rules.0.resource_scope.0.category",
    ),
    "bad operator": (
        "rules:\n  - name: a\n    action: alert\n    resource_scope:\n"
        "      - category: namespace\n        operator: like\n        values: [x]\n",
        "p.yaml:6:9: literal_error: rules.0.resource_scope.0.operator",
    ),
    "duplicate names": (
        "rules:\n  - name: a\n    action: alert\n  - name: a\n    action: block\n",
        "p.yaml:4:5: duplicate_name: rule name 'a' repeats",
    ),
    "bad glob": (
        "rules:\n  - name: a\n    action: alert\n    allow_processes:\n      - glob: '/opt/[x'\n",
        "p.yaml:5:9: value_error: rules.0.allow_processes.0.glob: bad glob",
    ),
    "bad action": (
        "rules:\n  - {name: a, action: deny}\n",
        "p.yaml:2:15: literal_error: rules.0.action",
    ),
    "yaml syntax": ("rules: [\n", "p.yaml:2:1: yaml"),
    "bad response": (
        "rules:\n  - {name: a, action: alert, response: [reboot]}\n",
        "p.yaml:2:41: literal_error: rules.0.response.0",
    ),
}


def test_rule_responses_reach_the_decision() -> None:
    text = (
        "rules:\n  - {name: a, action: alert, response: [kill_process, stop_container]}\n"
        "default_rule: {action: alert, response: [pause_container]}\n"
    )
    policy, diags = parse_policy(text, "p.yaml")
    assert policy is not None, [str(d) for d in diags]
    ctx = ScopeContext()
    first = policy.evaluate(Verdict.DRIFT_NEW, "/x", ctx)
    assert first.response == ("kill_process", "stop_container")
    assert policy.describe()[0]["response"] == ["kill_process", "stop_container"]


@pytest.mark.parametrize("case", sorted(BAD))
def test_located_errors(case: str) -> None:
    text, expected = BAD[case]
    policy, diags = parse_policy(text, "p.yaml")
    assert policy is None
    assert any(str(d).startswith(expected) for d in diags), [str(d) for d in diags]


def test_reload_keeps_previous_on_error_and_counts_survive(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules: [{name: a, action: alert}]\ndefault_rule: {action: ignore}\n")
    holder = PolicyHolder(path)
    first = holder.policy
    holder.counters.hit("a", "alerted")
    time.sleep(0.01)
    path.write_text("rules: [{name: a, action: alert}, {name: a, action: block}]\n")
    assert holder.check() is False
    assert holder.policy is first
    assert str(holder.errors[0]).startswith(f"{path}:1:36: duplicate_name")
    time.sleep(0.01)
    path.write_text("rules: [{name: a, action: block}]\n")
    assert holder.check() is True
    assert holder.policy.rules[0].action == "block"
    assert holder.policy.revision != first.revision
    assert holder.errors == []
    assert holder.counters.as_dict()["a"]["alerted"] == 1


def test_reload_thread_applies_within_two_seconds(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules: []\ndefault_rule: {action: alert}\n")
    holder = PolicyHolder(path)
    holder.start()
    try:
        # A ConfigMap-style swap: write elsewhere, rename over.
        new = tmp_path / "new.yaml"
        new.write_text("rules: []\ndefault_rule: {action: block}\n")
        new.replace(path)
        t0 = time.monotonic()
        while holder.policy.default.action != "block" and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert holder.policy.default.action == "block"
        assert time.monotonic() - t0 <= 2.0
    finally:
        holder.stop()
