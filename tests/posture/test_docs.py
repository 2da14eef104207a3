"""The webhook configuration shipped in docs/posture.md matches what mamori serves and checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mamori.posture.workload import OTHER_KINDS, POD_TEMPLATE_PATHS
from mamori.server.routers.admission import router

DOC = Path(__file__).parents[2] / "docs" / "posture.md"


def _webhook_configuration() -> dict[str, Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    for block in blocks:
        for doc in yaml.safe_load_all(block):
            if isinstance(doc, dict) and doc.get("kind") == "ValidatingWebhookConfiguration":
                return doc
    raise AssertionError("docs/posture.md has no ValidatingWebhookConfiguration")


def test_shipped_webhook_configuration() -> None:
    config = _webhook_configuration()
    assert config["apiVersion"] == "admissionregistration.k8s.io/v1"
    (hook,) = config["webhooks"]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "NoneOnDryRun"
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] == 5
    assert hook["matchPolicy"] == "Equivalent"
    assert "objectSelector" not in hook
    excluded = hook["namespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn"
    assert {"kube-system", "mamori-system"} <= set(excluded["values"])
    url = hook["clientConfig"]["url"]
    assert url.startswith("https://")
    paths = {getattr(r, "path", "") for r in router.routes}
    assert "/" + url.split("://", 1)[1].split("/", 1)[1] in paths
    resources = set()
    for rule in hook["rules"]:
        assert set(rule["operations"]) == {"CREATE", "UPDATE"}
        resources |= set(rule["resources"])
    # Every kind mamori checks in admission (the built-in ones) is selected.
    builtin = set(POD_TEMPLATE_PATHS) - {"Rollout", "DeploymentConfig"}
    wanted = {k.lower() + "s" for k in builtin | (set(OTHER_KINDS) - {"ConfigMap", "Secret"})}
    wanted = {"ingresses" if w == "ingresss" else w for w in wanted}
    assert wanted <= resources, wanted - resources
    assert "pods/ephemeralcontainers" in resources
