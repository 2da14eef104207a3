"""MAM-K8S-012 (automounted API credentials) and MAM-K8S-013 (default namespace)."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.posture.checks.base import Check, Outcome, Params, Skip, Subject, Violation, params
from mamori.posture.model import Level
from mamori.posture.workload import as_map


@params
class AutomountParams(Params):
    honour_service_account: bool = True


def automount(s: Subject, p: AutomountParams) -> Iterator[Outcome]:
    pod = s.pod
    path = (*pod.spec_path, "automountServiceAccountToken")
    value = pod.spec.get("automountServiceAccountToken")
    if value is not None:
        if value is not False:
            yield Violation(path, "automounts the API token", value=value)
        return
    name = str(pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount") or "default")
    account = s.service_accounts.get((s.namespace, name)) if p.honour_service_account else None
    if account is not None and as_map(account).get("automountServiceAccountToken") is False:
        return
    known = "automounts" if account is not None else "unknown: token automounted by default"
    yield Violation(path, f"automountServiceAccountToken unset; ServiceAccount {name} {known}")


AUTOMOUNT: Check[AutomountParams] = Check(
    id="MAM-K8S-012",
    title="Kubernetes clusters should disable automounting API credentials",
    severity=Level.HIGH,
    family="defender",
    run=automount,
    params=AutomountParams,
    fields=("spec.automountServiceAccountToken", "spec.serviceAccountName"),
    azure_policy_id="423dd1ba-798e-40e4-9c4d-b6902674b423",
    container_exclusions=False,
    pod_image_exclusion=True,
    remediation="Do not mount an API token unless the workload calls the API.",
    fix="automountServiceAccountToken: false",
)


@params
class DefaultNamespaceParams(Params):
    namespaces: list[str] = ["default"]
    assume_default_namespace: bool = False  # Azure: a missing namespace counts as default


def _never_flagged(s: Subject) -> bool:
    kind, name = s.manifest.kind, s.manifest.name
    if (kind, name) in {("ServiceAccount", "default"), ("Service", "kubernetes")}:
        return True
    if (kind, name) == ("ConfigMap", "kube-root-ca.crt"):
        return True
    annotations = as_map(s.manifest.metadata.get("annotations"))
    return (
        kind == "Secret"
        and s.manifest.obj.get("type") == "kubernetes.io/service-account-token"
        and annotations.get("kubernetes.io/service-account.name") == "default"
    )


def default_namespace(s: Subject, p: DefaultNamespaceParams) -> Iterator[Outcome]:
    if _never_flagged(s):
        return
    namespace = s.namespace or ("default" if p.assume_default_namespace else None)
    if namespace is None:
        yield Skip("namespace decided at apply time")
    elif namespace in p.namespaces:
        yield Violation(("metadata", "namespace"), f"in namespace {namespace}", None, namespace)


DEFAULT_NAMESPACE: Check[DefaultNamespaceParams] = Check(
    id="MAM-K8S-013",
    title="Kubernetes clusters should not use the default namespace",
    severity=Level.LOW,
    family="defender",
    run=default_namespace,
    params=DefaultNamespaceParams,
    kinds=frozenset({"pod-bearing", "Service", "ServiceAccount", "ConfigMap", "Secret"}),
    fields=("metadata.namespace",),
    azure_policy_id="9f061a12-e40d-4183-a00e-171812443373",
    container_exclusions=False,
    image_exclusions=False,
    remediation="Deploy into a dedicated namespace.",
    fix="metadata: {namespace: my-app}",
)
