"""The check model: what a check is, what it sees and what it says.

A check function takes a ``Subject`` (one object, its pod template if any, what else the scan
knows) and its validated parameters, and yields ``Violation``s (findings) or ``Skip``s
(undecidable, with a reason). Exclusions, exemptions, locations and pass results are the
engine's job, so a check is only the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar, cast

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mamori.posture.model import ContainerRef, FieldPath, Level, Manifest, fast_init
from mamori.posture.workload import Workload, is_pod_bearing


class Params(BaseModel):
    """Base of every check's parameters: camelCase in YAML, unknown keys refused."""

    # defer_build: a validator is built when a config file is first validated against the
    # model, not when the module is imported (two dozen models cost ~0.2 s of every start).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,
    )

    @classmethod
    def defaults(cls) -> Self:
        """The default parameters without building a validator (defaults are not validated
        by pydantic either); a model with a required field still validates, and fails."""
        if any(f.is_required() for f in cls.model_fields.values()):
            return cls()
        return cast(Self, cls.model_construct())


class NoParams(Params):
    pass


P = TypeVar("P", bound=Params)


@fast_init
@dataclass(frozen=True, slots=True)
class Violation:
    path: FieldPath  # from the object root
    message: str
    container: ContainerRef | None = None
    value: Any = None
    upstream: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


Outcome = Violation | Skip


@dataclass(frozen=True, slots=True)
class Subject:
    """What a check sees of one object."""

    manifest: Manifest
    workload: Workload | None
    namespace: str | None  # metadata.namespace, else the scan's --namespace
    service_accounts: Mapping[tuple[str | None, str], Mapping[str, Any]] = field(
        default_factory=dict
    )

    @property
    def pod(self) -> Workload:
        assert self.workload is not None  # pod checks only run on pod-bearing kinds
        return self.workload


POD_BEARING = "pod-bearing"


@dataclass(frozen=True, slots=True)
class Check(Generic[P]):
    id: str
    title: str
    severity: Level
    family: str  # defender | pss-baseline | pss-restricted
    run: Callable[[Subject, P], Iterable[Outcome]]
    params: type[P]
    remediation: str
    fix: str
    kinds: frozenset[str] = frozenset({POD_BEARING})
    fields: tuple[str, ...] = ()
    pss: tuple[str, ...] = ()
    azure_policy_id: str | None = None
    upstream: str | None = None  # PSS check ID
    container_exclusions: bool = True
    image_exclusions: bool = True
    pod_image_exclusion: bool = False  # skip the pod only if every container is excluded
    linux_only: bool = False
    overrides: str | None = None  # at restricted level, the PSS check this one replaces

    def applies_to(self, manifest: Manifest) -> bool:
        kind = manifest.kind
        return kind in self.kinds or (POD_BEARING in self.kinds and is_pod_bearing(kind))

    def default_params(self) -> P:
        return self.params.defaults()
