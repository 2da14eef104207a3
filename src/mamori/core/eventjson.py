"""mamori event JSON <-> ``Event``: the line format of ``mamori rules replay`` and of the sensor.

One event is one JSON object. Only ``kind`` and ``time_ns`` are required; every other key is
optional and maps one-to-one onto the dataclass fields of ``mamori.core.events``::

    {
      "kind": "process_exec",            # EventKind value
      "time_ns": 1732259442118000000,     # ns since the epoch (int)
      "syscall": "execve", "result": "SUCCESS", "node": "node-a", "cluster": "prod", "num": 7,
      "process": {"pid": 4242, "name": "sh", "exepath": "/bin/sh", "args": ["-c", "id"],
                  "ppid": 4200, "pname": "bash", "anames": ["bash", "containerd-shim"],
                  "cwd": "/", "tty": 34816, "uid": 0, "user": "root", "loginuid": -1,
                  "exe_flags": {"upper_layer": true}, "env": ["HOME=/root"],
                  "cap_effective": ["CAP_SYS_ADMIN"], "parent": {...same shape...}},
      "container": {"id": "<64 hex>", "name": "web", "image": "nginx:1.27",
                    "image_repository": "nginx", "image_tag": "1.27", "privileged": false,
                    "labels": {}, "start_ns": 0,
                    "mounts": [{"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock",
                                "mode": "", "rw": true, "propagation": "rprivate"}]},
      "k8s": {"pod_name": "web-0", "namespace": "shop", "pod_uid": "...", "pod_labels": {}},
      "file": {"path": "/etc/shadow", "flags": ["O_RDONLY"], "fd": 3, "mode": 420},
      "network": {"protocol": "tcp", "src_ip": "10.0.0.2", "src_port": 43210,
                  "dst_ip": "1.2.3.4", "dst_port": 443, "dst_name": "example.com"},
      "audit": {...the audit.k8s.io/v1 Event object...},
      "args": {"flags": "O_RDONLY"},      # evt.arg.* as text
      "extra": {"mamori.drift.verdict": "drift-new"}
    }

Unknown keys are rejected so that typos do not silently drop data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from mamori.core.errors import ValidationError
from mamori.core.events import (
    ContainerInfo,
    Event,
    EventKind,
    FileInfo,
    K8sAuditInfo,
    K8sInfo,
    MountInfo,
    NetworkInfo,
    ProcessInfo,
)

T = TypeVar("T")

_TUPLE_FIELDS = frozenset(("args", "anames", "env", "cap_effective", "cap_permitted", "flags"))
_MAP_FIELDS = frozenset(("exe_flags", "labels", "pod_labels"))


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object of an event (``None`` and empty values left out)."""
    out = _record_dict(event)
    out["kind"] = event.kind.value
    return out


def _record_dict(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None or value == () or (isinstance(value, Mapping) and not value):
            continue
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, K8sAuditInfo):
        return _jsonable(value.raw)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _record_dict(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def from_dict(data: Any) -> Event:
    """Build an ``Event``; raise ``ValidationError`` naming the offending key."""
    obj = _expect_map(data, "event")
    try:
        kind = EventKind(str(obj.get("kind")))
    except ValueError:
        kinds = ", ".join(k.value for k in EventKind)
        raise ValidationError(f"event.kind: expected one of {kinds}") from None
    time_ns = obj.get("time_ns")
    if not isinstance(time_ns, int) or isinstance(time_ns, bool):
        raise ValidationError("event.time_ns: expected an integer (ns since the epoch)")
    nested: dict[str, Any] = {
        "process": lambda v: _process(v, "event.process"),
        "container": lambda v: _container(v),
        "k8s": lambda v: _build(K8sInfo, v, "event.k8s"),
        "file": lambda v: _build(FileInfo, v, "event.file"),
        "network": lambda v: _build(NetworkInfo, v, "event.network"),
        "audit": lambda v: K8sAuditInfo(MappingProxyType(_expect_map(v, "event.audit"))),
        "args": lambda v: MappingProxyType(
            {str(k): str(x) for k, x in _expect_map(v, "event.args").items()}
        ),
        "extra": lambda v: MappingProxyType(dict(_expect_map(v, "event.extra"))),
    }
    kwargs: dict[str, Any] = {"kind": kind, "time_ns": time_ns}
    allowed = {f.name for f in dataclasses.fields(Event)}
    for key, value in obj.items():
        if key in ("kind", "time_ns") or value is None:
            continue
        if key not in allowed:
            raise ValidationError(f"event.{key}: unknown key")
        kwargs[key] = nested[key](value) if key in nested else _scalar(value, f"event.{key}")
    return Event(**kwargs)


def _process(value: Any, where: str) -> ProcessInfo:
    obj = dict(_expect_map(value, where))
    if obj.get("parent") is not None:
        obj["parent"] = _process(obj["parent"], where + ".parent")
    return _build(ProcessInfo, obj, where, prebuilt=("parent",))


def _container(value: Any) -> ContainerInfo:
    obj = dict(_expect_map(value, "event.container"))
    mounts = obj.get("mounts") or []
    if not isinstance(mounts, list):
        raise ValidationError("event.container.mounts: expected a list")
    obj["mounts"] = tuple(
        _build(MountInfo, m, f"event.container.mounts[{i}]") for i, m in enumerate(mounts)
    )
    return _build(ContainerInfo, obj, "event.container", prebuilt=("mounts",))


def _build(cls: type[T], value: Any, where: str, prebuilt: tuple[str, ...] = ()) -> T:
    obj = _expect_map(value, where)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, item in obj.items():
        if key not in names:
            raise ValidationError(f"{where}.{key}: unknown key")
        if item is None or key in prebuilt:
            kwargs[key] = item
        elif key in _TUPLE_FIELDS:
            if not isinstance(item, list):
                raise ValidationError(f"{where}.{key}: expected a list")
            kwargs[key] = tuple(str(x) for x in item)
        elif key in _MAP_FIELDS:
            kwargs[key] = MappingProxyType(dict(_expect_map(item, f"{where}.{key}")))
        else:
            kwargs[key] = _scalar(item, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ValidationError(f"{where}: {exc}") from None


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, dict | list):
        raise ValidationError(f"{where}: expected a scalar value")
    return value


def _expect_map(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}: expected an object")
    return value
