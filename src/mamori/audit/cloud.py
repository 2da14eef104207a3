"""Managed clusters' audit log exports -> ``audit.k8s.io/v1`` Events.

Managed control planes do not let users point the API server at a webhook; they export the
audit log to the cloud's logging service, in three shapes this module unwraps:

- **GKE** (Cloud Logging, ``resource.type: k8s_cluster``): a ``LogEntry`` whose ``protoPayload``
  is a ``google.cloud.audit.AuditLog``: ``methodName`` ``io.k8s.core.v1.pods.create``,
  ``resourceName`` ``core/v1/namespaces/ns/pods/name[/sub]``, ``authenticationInfo``,
  ``requestMetadata`` (caller IP, user agent), ``request``/``response`` bodies, a gRPC ``status``.
  The event is rebuilt field by field (groups are not in the export: ``ka.user.groups`` is empty).
- **AKS** (diagnostic settings, categories ``kube-audit``/``kube-audit-admin``): the original
  Event as a JSON string in ``properties.log``; an exported blob holds ``{"records": [...]}``.
- **EKS** (CloudWatch Logs, ``/aws/eks/<cluster>/cluster``, stream ``kube-apiserver-audit-*``):
  the original Event as a JSON string in ``message`` (``aws logs`` / subscription exports).

``unwrap()`` returns None for anything else, so plain Events and EventLists go on as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mamori.audit.events import AuditFormatError

# gRPC status codes (google.rpc.Code) -> the HTTP status the API server answered.
GRPC_TO_HTTP = {
    0: 200,
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}
STREAMS = frozenset({"exec", "attach", "portforward"})
AKS_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})


def unwrap(doc: Any, where: str) -> list[dict[str, Any]] | None:
    """The audit Events inside a cloud export record, or None when ``doc`` is not one."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("records"), list):  # an AKS blob, or an Event Hub batch
        out: list[dict[str, Any]] = []
        for i, record in enumerate(doc["records"]):
            found = unwrap(record, f"{where}.records[{i}]")
            if found is None:
                raise AuditFormatError(f"{where}.records[{i}]: not an AKS kube-audit record")
            out.extend(found)
        return out
    payload = doc.get("protoPayload")
    if isinstance(payload, dict) and "AuditLog" in str(payload.get("@type", "")):
        return [gke_event(doc, payload, where)]
    if doc.get("category") in AKS_CATEGORIES:
        log = (doc.get("properties") or {}).get("log")
        return [_embedded(log, f"{where}.properties.log")]
    message = doc.get("message")
    if isinstance(message, str) and '"audit.k8s.io/' in message and "kind" not in doc:
        return [_embedded(message, f"{where}.message")]
    return None


def _embedded(text: Any, where: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise AuditFormatError(f"{where}: expected the audit event as a JSON string")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise AuditFormatError(f"{where}: not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise AuditFormatError(f"{where}: expected an audit event object")
    return event


def _object_ref(resource_name: str, method: str) -> dict[str, Any]:
    """``core/v1/namespaces/ns/pods/name/exec`` -> objectRef (the method names the verb)."""
    parts = [p for p in resource_name.split("/") if p]
    if len(parts) < 3:
        raise ValueError(f"resourceName {resource_name!r} has no group/version/resource")
    group, version, rest = parts[0], parts[1], parts[2:]
    ref: dict[str, Any] = {"apiGroup": "" if group == "core" else group, "apiVersion": version}
    if rest[0] == "namespaces" and len(rest) >= 3:
        ref["namespace"] = rest[1]
        rest = rest[2:]
    ref["resource"] = rest[0]
    if len(rest) > 1:
        ref["name"] = rest[1]
    if len(rest) > 2:
        ref["subresource"] = rest[2]
    # io.k8s.core.v1.pods.exec.create: the method names a subresource the name may lack.
    segments = method.split(".")
    if "subresource" not in ref and len(segments) >= 3 and segments[-3] == ref["resource"]:
        ref["subresource"] = segments[-2]
    return ref


def _uri(ref: Mapping[str, Any]) -> str:
    base = "/api/" if not ref.get("apiGroup") else f"/apis/{ref['apiGroup']}/"
    path = base + str(ref.get("apiVersion", "v1"))
    if ref.get("namespace") and ref.get("resource") != "namespaces":
        path += f"/namespaces/{ref['namespace']}"
    path += f"/{ref['resource']}"
    for key in ("name", "subresource"):
        if ref.get(key):
            path += f"/{ref[key]}"
    return path


def _body(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "@type"}
    return value


def gke_event(entry: Mapping[str, Any], payload: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One GKE Cloud Audit Logs entry -> an ``audit.k8s.io/v1`` Event."""
    method = str(payload.get("methodName") or "")
    try:
        ref = _object_ref(str(payload.get("resourceName") or ""), method)
    except ValueError as exc:
        raise AuditFormatError(f"{where}.protoPayload: {exc}") from None
    stamp = entry.get("timestamp") or entry.get("receiveTimestamp")
    if not isinstance(stamp, str) or not method:
        raise AuditFormatError(f"{where}: a GKE audit entry needs timestamp and methodName")
    auth = payload.get("authenticationInfo") or {}
    meta = payload.get("requestMetadata") or {}
    status = payload.get("status") or {}
    code = GRPC_TO_HTTP.get(int(status.get("code", 0) or 0), 500)
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": str(entry.get("insertId") or f"{stamp}/{method}"),
        # Streams (exec, attach, port-forward) are audited when they start: rules key on that.
        "stage": "ResponseStarted" if ref.get("subresource") in STREAMS else "ResponseComplete",
        "requestURI": _uri(ref),
        "verb": method.rsplit(".", 1)[-1],
        "user": {"username": str(auth.get("principalEmail") or "")},
        "sourceIPs": [meta["callerIp"]] if meta.get("callerIp") else [],
        "userAgent": str(meta.get("callerSuppliedUserAgent") or ""),
        "objectRef": ref,
        "responseStatus": {
            "code": code,
            **({"message": status["message"]} if status.get("message") else {}),
        },
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
        "annotations": _decision(payload),
    }
    if auth.get("authoritySelector"):
        event["impersonatedUser"] = {"username": str(auth["authoritySelector"])}
    if "request" in payload:
        event["requestObject"] = _body(payload["request"])
    if "response" in payload:
        event["responseObject"] = _body(payload["response"])
    return event


def _decision(payload: Mapping[str, Any]) -> dict[str, str]:
    infos = payload.get("authorizationInfo") or []
    if not infos or not isinstance(infos, list):
        return {}
    granted = all(isinstance(i, dict) and i.get("granted") for i in infos)
    return {"authorization.k8s.io/decision": "allow" if granted else "forbid"}
