"""``ka.*`` and ``jevt.*``: Kubernetes audit events (source ``k8s_audit``).

Values are text, as the k8saudit plugin exports them (``true``/``false`` for booleans); list
fields return a tuple and take an index argument (``ka.req.pod.containers.image[0]``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mamori.core.events import Event
from mamori.rules.fields.base import ArgMode, Extractor, FieldSpec, FieldType, Multi, field, int_arg

S = FieldType.STRING
SRC = "k8s_audit"
AUDIT = "audit"


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def _raw(e: Event) -> Mapping[str, Any] | None:
    a = e.audit
    return a.raw if a is not None else None


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _at(*path: str) -> Extractor:
    def extract(e: Event) -> str | None:
        return text(dig(_raw(e), *path))

    return extract


def _annotation(key: str) -> Extractor:
    def extract(e: Event) -> str | None:
        return text(dig(_raw(e), "annotations", key))

    return extract


def _list_of(get: Callable[[Mapping[str, Any]], list[Any] | None]) -> Extractor:
    def extract(e: Event) -> tuple[str, ...] | None:
        raw = _raw(e)
        if raw is None:
            return None
        values = get(raw)
        if values is None:
            return None
        return tuple(t for t in (text(v) for v in values) if t is not None)

    return extract


def _indexed(get: Extractor) -> Callable[[str], Extractor]:
    def make(arg: str) -> Extractor:
        n = int_arg(arg)

        def extract(e: Event) -> str | None:
            values = get(e)
            if values is None or n is None or not 0 <= n < len(values):
                return None
            return str(values[n])

        return extract

    return make


def _containers(kind: str) -> Callable[[Mapping[str, Any]], list[Any] | None]:
    def get(raw: Mapping[str, Any]) -> list[Any] | None:
        obj = dig(raw, "requestObject")
        spec = dig(obj, "spec")
        items = dig(spec, kind) if spec is not None else None
        if items is None and kind == "ephemeralContainers":
            items = dig(obj, kind)  # the ephemeralcontainers subresource
        return items if isinstance(items, list) else None

    return get


def _container_values(kind: str, pick: Callable[[Any], Any]) -> Extractor:
    containers = _containers(kind)
    return _list_of(lambda raw: [pick(c) for c in containers(raw) or []] or None)


def _repository(image: Any) -> Any:
    if not isinstance(image, str):
        return None
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _privileged(c: Any) -> bool:
    return bool(dig(c, "securityContext", "privileged"))


def _pod_spec_flag(key: str) -> Extractor:
    def extract(e: Event) -> tuple[str, ...] | None:
        spec = dig(_raw(e), "requestObject", "spec")
        if not isinstance(spec, Mapping):
            return None
        return (text(bool(spec.get(key))) or "false",)

    return extract


def _hostpaths(raw: Mapping[str, Any]) -> list[Any] | None:
    vols = dig(raw, "requestObject", "spec", "volumes")
    if not isinstance(vols, list):
        return None
    return [p for v in vols if (p := dig(v, "hostPath", "path")) is not None]


def _role_rules(raw: Mapping[str, Any]) -> list[Any] | None:
    rules = dig(raw, "requestObject", "rules")
    return rules if isinstance(rules, list) else None


def _rule_items(key: str) -> Callable[[Mapping[str, Any]], list[Any] | None]:
    def get(raw: Mapping[str, Any]) -> list[Any] | None:
        rules = _role_rules(raw)
        if rules is None:
            return None
        return [v for r in rules if isinstance(r, Mapping) for v in r.get(key) or []]

    return get


def _subjects(raw: Mapping[str, Any]) -> list[Any] | None:
    subjects = dig(raw, "requestObject", "subjects")
    if not isinstance(subjects, list):
        return None
    return [dig(s, "name") for s in subjects]


def _uri_param(arg: str) -> Extractor:
    def extract(e: Event) -> str | None:
        uri = dig(_raw(e), "requestURI")
        if not isinstance(uri, str):
            return None
        values = parse_qs(urlsplit(uri).query).get(arg)
        return values[0] if values else None

    return extract


def _configmap(get: Callable[[Mapping[str, Any]], Any]) -> Extractor:
    def extract(e: Event) -> str | None:
        raw = _raw(e)
        if raw is None or dig(raw, "objectRef", "resource") != "configmaps":
            return None
        return text(get(raw))

    return extract


def _json_pointer(arg: str) -> Extractor:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in arg.split("/")[1:]]

    def extract(e: Event) -> str | None:
        obj: Any = _raw(e)
        if obj is None or not arg.startswith("/"):
            return None
        for p in parts:
            if isinstance(obj, Mapping):
                obj = obj.get(p)
            elif isinstance(obj, list) and p.isdigit() and int(p) < len(obj):
                obj = obj[int(p)]
            else:
                return None
        return text(obj)

    return extract


def _rawtime(e: Event) -> str | None:
    return str(e.time_ns) if e.audit is not None else None


def _images(kind: str) -> Extractor:
    return _container_values(kind, lambda c: dig(c, "image"))


def _list_field(name: str, desc: str, get: Extractor) -> FieldSpec:
    return field(
        name,
        S,
        desc,
        get,
        source=SRC,
        with_arg=_indexed(get),
        arg=ArgMode.OPTIONAL,
        multi=Multi.LIST,
        sensor=AUDIT,
    )


def _kind_fields(kind: str, label: str) -> tuple[FieldSpec, ...]:
    base = f"ka.req.pod.{kind}"
    return (
        _list_field(f"{base}.image", f"Images of the pod's {label}.", _images(kind)),
        _list_field(
            f"{base}.image.repository",
            f"Image repositories of the pod's {label}.",
            _container_values(kind, lambda c: _repository(dig(c, "image"))),
        ),
        _list_field(
            f"{base}.privileged",
            f"Privileged flags of the pod's {label}.",
            _container_values(kind, _privileged),
        ),
    )


def _s(name: str, desc: str, get: Extractor) -> FieldSpec:
    return field(name, S, desc, get, source=SRC, sensor=AUDIT)


FIELDS: tuple[FieldSpec, ...] = (
    _s("ka.auditid", "Audit id.", _at("auditID")),
    _s("ka.stage", "Audit stage.", _at("stage")),
    _s(
        "ka.auth.decision",
        "Authorization decision (allow/forbid).",
        _annotation("authorization.k8s.io/decision"),
    ),
    _s("ka.auth.reason", "Authorization reason.", _annotation("authorization.k8s.io/reason")),
    _s("ka.user.name", "User name.", _at("user", "username")),
    _list_field("ka.user.groups", "User groups.", _list_of(lambda raw: dig(raw, "user", "groups"))),
    _s("ka.impuser.name", "Impersonated user name.", _at("impersonatedUser", "username")),
    _s("ka.verb", "Action verb (create, get, patch ...).", _at("verb")),
    _s("ka.uri", "Request URI.", _at("requestURI")),
    field(
        "ka.uri.param",
        S,
        "A query parameter of the URI: ka.uri.param[command].",
        source=SRC,
        with_arg=_uri_param,
        sensor=AUDIT,
    ),
    _s("ka.target.name", "Target object name.", _at("objectRef", "name")),
    _s("ka.target.namespace", "Target object namespace.", _at("objectRef", "namespace")),
    _s("ka.target.resource", "Target resource (pods, secrets ...).", _at("objectRef", "resource")),
    _s(
        "ka.target.subresource",
        "Target subresource (exec, attach ...).",
        _at("objectRef", "subresource"),
    ),
    _s("ka.useragent", "User agent.", _at("userAgent")),
    _list_field("ka.sourceips", "Source addresses.", _list_of(lambda raw: dig(raw, "sourceIPs"))),
    _s(
        "ka.req.binding.role",
        "Role a (cluster) role binding refers to.",
        _at("requestObject", "roleRef", "name"),
    ),
    _list_field(
        "ka.req.binding.subjects", "Subject names of a (cluster) role binding.", _list_of(_subjects)
    ),
    _s(
        "ka.req.configmap.name",
        "Name of a created or changed ConfigMap.",
        _configmap(lambda raw: dig(raw, "objectRef", "name")),
    ),
    _s(
        "ka.req.configmap.obj",
        "Data of a created or changed ConfigMap, as JSON.",
        _configmap(lambda raw: dig(raw, "requestObject", "data")),
    ),
    *_kind_fields("containers", "containers"),
    *_kind_fields("initContainers", "init containers"),
    *_kind_fields("ephemeralContainers", "ephemeral containers"),
    _list_field("ka.req.pod.host_ipc", "hostIPC of the pod spec.", _pod_spec_flag("hostIPC")),
    _list_field(
        "ka.req.pod.host_network", "hostNetwork of the pod spec.", _pod_spec_flag("hostNetwork")
    ),
    _list_field("ka.req.pod.host_pid", "hostPID of the pod spec.", _pod_spec_flag("hostPID")),
    _list_field(
        "ka.req.pod.volumes.hostpath",
        "hostPath volume paths of the pod spec.",
        _list_of(_hostpaths),
    ),
    _list_field("ka.req.role.rules", "Rules of a created role, as JSON.", _list_of(_role_rules)),
    _list_field(
        "ka.req.role.rules.verbs",
        "Verbs of a created role's rules.",
        _list_of(_rule_items("verbs")),
    ),
    _list_field(
        "ka.req.role.rules.resources",
        "Resources of a created role's rules.",
        _list_of(_rule_items("resources")),
    ),
    _s("ka.req.service.type", "Service type.", _at("requestObject", "spec", "type")),
    _list_field(
        "ka.req.service.ports",
        "Service ports, as JSON.",
        _list_of(lambda raw: dig(raw, "requestObject", "spec", "ports")),
    ),
    _s(
        "ka.resp.name",
        "Name of the object in the response.",
        _at("responseObject", "metadata", "name"),
    ),
    _s("ka.response.code", "Response code.", _at("responseStatus", "code")),
    _s("ka.response.reason", "Response reason.", _at("responseStatus", "reason")),
    _s("jevt.obj", "The whole audit event as JSON.", lambda e: text(_raw(e))),
    field(
        "jevt.value",
        S,
        "A value by JSON pointer: jevt.value[/user/username].",
        source=SRC,
        with_arg=_json_pointer,
        sensor=AUDIT,
    ),
    _s("jevt.rawtime", "Event time, ns since the epoch.", _rawtime),
    _s(
        "jevt.time",
        "Event time as text.",
        lambda e: text(dig(_raw(e), "stageTimestamp")) if e.audit is not None else None,
    ),
)
