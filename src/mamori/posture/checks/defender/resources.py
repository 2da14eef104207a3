"""MAM-K8S-001 (CPU and memory limits) and MAM-K8S-002 (trusted registries)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from mamori.posture.checks.base import Check, Outcome, Params, Subject, Validated, Violation, params
from mamori.posture.checks.util import parse_quantity
from mamori.posture.model import Level
from mamori.posture.workload import as_map

UNLIMITED = "-1"


def _quantity(value: str) -> str:
    if value != UNLIMITED and parse_quantity(value) is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return value


Quantity = Annotated[str, Validated(_quantity)]


@params
class LimitsParams(Params):
    cpu_limit: Quantity = "32"
    memory_limit: Quantity = "64Gi"


def limits(s: Subject, p: LimitsParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers(ephemeral=False):
        resources = as_map(body.get("resources"))
        lims = as_map(resources.get("limits"))
        base = (*ref.path, "resources")
        if not lims:
            what = "resources.limits" if resources else "resources"
            yield Violation(base, f"no {what}: set cpu and memory limits", ref)
            continue
        for key, ceiling in (("cpu", p.cpu_limit), ("memory", p.memory_limit)):
            raw = lims.get(key)
            amount = parse_quantity(raw)
            path = (*base, "limits", key)
            if amount is None:
                if raw is None and ceiling == UNLIMITED:
                    continue
                what = "missing" if raw in (None, "") else f"unparsable ({raw!r})"
                yield Violation(path, f"{key} limit {what}", ref, raw)
            elif ceiling != UNLIMITED and amount > (parse_quantity(ceiling) or 0):
                yield Violation(path, f"{key} limit {raw} exceeds {ceiling}", ref, raw)


LIMITS: Check[LimitsParams] = Check(
    id="MAM-K8S-001",
    title="Container CPU and memory limits should be enforced",
    severity=Level.MEDIUM,
    family="defender",
    run=limits,
    params=LimitsParams,
    fields=("<c>.resources.limits.cpu", "<c>.resources.limits.memory"),
    azure_policy_id="e345eecc-fa47-480f-9e88-67dcc122b164",
    remediation="Set CPU and memory limits on every container, within the allowed maximum.",
    fix="resources: {limits: {cpu: 500m, memory: 256Mi}}",
)

DEFAULT_REGISTRY_REGEX = r"^(?:localhost(?::\d+)?|[^/]*[.:][^/]*)/.+$"


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


@params
class RegistryParams(Params):
    allowed_images_regex: Annotated[str, Validated(_regex)] = DEFAULT_REGISTRY_REGEX


def registries(s: Subject, p: RegistryParams) -> Iterator[Outcome]:
    pattern = re.compile(p.allowed_images_regex)
    for ref, _body in s.pod.containers():
        if not pattern.search(ref.image):
            yield Violation(
                (*ref.path, "image"),
                f"image {ref.image!r} is not from a trusted registry",
                ref,
                ref.image,
            )


REGISTRIES: Check[RegistryParams] = Check(
    id="MAM-K8S-002",
    title="Container images should be deployed from trusted registries only",
    severity=Level.HIGH,
    family="defender",
    run=registries,
    params=RegistryParams,
    fields=("<c>.image",),
    azure_policy_id="febd0533-8e55-448f-b837-bd0e06f16469",
    image_exclusions=False,
    remediation="Pull images from your own registry; set allowedImagesRegex to it.",
    fix="image: myregistry.azurecr.io/redis:7.2",
)
