"""``--format json``: ``{schemaVersion, tool, summary, results[]}``."""

from __future__ import annotations

import json
from collections import Counter
from json.encoder import encode_basestring_ascii as _enc
from typing import Any

import mamori
from mamori.posture.model import (
    ContainerRef,
    FieldPath,
    Location,
    ResourceId,
    Result,
    Status,
    format_path,
)
from mamori.posture.report.common import check_of
from mamori.posture.scan import Report

SCHEMA_VERSION = "1"


def result_json(r: Result) -> dict[str, Any]:
    check = check_of(r)
    loc = r.location
    return {
        "checkId": r.check_id,
        "title": check.title,
        "severity": check.severity.value,
        "result": r.status.value,
        "resource": {
            "apiVersion": r.resource.api_version,
            "kind": r.resource.kind,
            "namespace": r.resource.namespace,
            "name": r.resource.name,
        },
        "container": {"name": r.container.name, "type": r.container.type} if r.container else None,
        "fieldPath": format_path(r.field_path),
        "location": {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "helmSource": loc.helm_source,
        },
        "message": r.message,
        "remediation": {
            "text": check.remediation,
            "fix": check.fix,
            "fixPaths": [format_path(r.field_path)],
        },
        "exemption": (
            {
                "reason": r.exemption.reason,
                "source": r.exemption.source,
                "expired": r.exemption.expired,
            }
            if r.exemption
            else None
        ),
        "pss": r.upstream,
        "azurePolicyId": check.azure_policy_id,
    }


def render(report: Report, *, include_passed: bool = False) -> str:
    counts = Counter(r.status for r in report.results)
    head = {
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "mamori", "version": mamori.__version__},
        "summary": {s.value: counts.get(s, 0) for s in Status},
        "diagnostics": [
            {
                "code": d.code,
                "level": d.level.value,
                "message": d.message,
                "location": str(d.location),
            }
            for d in report.diagnostics
        ],
    }
    # Results are written as text: the same dicts through json.dumps cost several times more
    # (a 1,000-object scan has ~10,000 findings). ``result_json`` is the reference shape and
    # the tests hold the two equal.
    encoder = _Encoder()
    results = report.results
    if not include_passed:
        passed = Status.PASS
        results = [r for r in results if r.status is not passed]
    body = ",".join(map(encoder.result, results))
    return json.dumps(head, separators=(",", ":"))[:-1] + ',"results":[' + body + "]}"


def _str(value: str | None) -> str:
    return "null" if value is None else _enc(value)


def _int(value: int | None) -> str:
    return "null" if value is None else str(value if value.__class__ is int else int(value))


_STATUS = {s: f'"result":{_enc(s.value)}' for s in Status}


class _Encoder:
    """``result_json(r)`` as compact JSON text, with per-check and per-resource parts reused.

    (Resources by identity: the results of one object share its ``ResourceId``, and hashing
    the dataclass costs more than the lookup saves.)
    """

    def __init__(self) -> None:
        self.checks: dict[str, tuple[str, str, str]] = {}
        self.resources: dict[int, tuple[ResourceId, str]] = {}
        self.containers: dict[int, tuple[ContainerRef, str]] = {}
        self.locations: dict[int, tuple[Location, str]] = {}
        self.files: dict[str, str] = {}
        self.paths: dict[FieldPath, str] = {}

    def _check(self, r: Result) -> tuple[str, str, str]:
        parts = self.checks.get(r.check_id)
        if parts is None:
            c = check_of(r)
            head = (
                f'{{"checkId":{_enc(c.id)},"title":{_enc(c.title)},'
                f'"severity":{_enc(c.severity.value)}'
            )
            rem = f'"remediation":{{"text":{_enc(c.remediation)},"fix":{_enc(c.fix)},"fixPaths":['
            parts = self.checks[r.check_id] = (head, rem, _str(c.azure_policy_id))
        return parts

    def _resource(self, res: ResourceId) -> str:
        found = self.resources.get(id(res))
        if found is None:  # the ResourceId is kept with its text, so its id() stays its own
            text = (
                f'{{"apiVersion":{_enc(res.api_version)},"kind":{_enc(res.kind)},'
                f'"namespace":{_str(res.namespace)},"name":{_enc(res.name)}}}'
            )
            found = self.resources[id(res)] = (res, text)
        return found[1]

    def result(self, r: Result) -> str:
        head, rem, policy = self._check(r)
        c, loc, ex = r.container, r.location, r.exemption
        if c is None:
            container = "null"
        else:
            known = self.containers.get(id(c))
            if known is None:
                text = f'{{"name":{_enc(c.name)},"type":{_enc(c.type)}}}'
                known = self.containers[id(c)] = (c, text)
            container = known[1]
        where = self.locations.get(id(loc))  # shared by an object's passes and same-field findings
        if where is None:
            file = self.files.get(loc.file)
            if file is None:
                file = self.files[loc.file] = _enc(loc.file)
            text = (
                f'{{"file":{file},"line":{_int(loc.line)},'
                f'"column":{_int(loc.column)},"helmSource":{_str(loc.helm_source)}}}'
            )
            where = self.locations[id(loc)] = (loc, text)
        exemption = (
            "null"
            if ex is None
            else f'{{"reason":{_enc(ex.reason)},"source":{_enc(ex.source)},'
            f'"expired":{"true" if ex.expired else "false"}}}'
        )
        path = self.paths.get(r.field_path)
        if path is None:
            path = self.paths[r.field_path] = _enc(format_path(r.field_path))
        return (
            f'{head},{_STATUS[r.status]},"resource":{self._resource(r.resource)},'
            f'"container":{container},"fieldPath":{path},"location":{where[1]},'
            f'"message":{_enc(r.message)},{rem}{path}]}},"exemption":{exemption},'
            f'"pss":{_str(r.upstream)},"azurePolicyId":{policy}}}'
        )
