"""The check model: what a check is, what it sees and what it says.

A check function takes a ``Subject`` (one object, its pod template if any, what else the scan
knows) and its validated parameters, and yields ``Violation``s (findings) or ``Skip``s
(undecidable, with a reason). Exclusions, exemptions, locations and pass results are the
engine's job, so a check is only the rule.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, dataclass_transform

from mamori.core.fastinit import fast_init
from mamori.posture.model import ContainerRef, FieldPath, Level, Manifest
from mamori.posture.workload import Workload, is_pod_bearing

if TYPE_CHECKING:
    from pydantic import TypeAdapter

T = TypeVar("T")
P = TypeVar("P", bound="Params")


def to_camel(name: str) -> str:
    """``cpu_limit`` -> ``cpuLimit`` (the YAML spelling of a parameter)."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


class Params:
    """Base of every check's parameters (and of the config's parts): a frozen dataclass
    (see ``params``), camelCase in YAML, unknown keys refused.

    Plain dataclasses, not pydantic models: a scan with the default configuration never
    validates anything, and importing pydantic and building two dozen models cost a third of
    a 500-file scan. ``validate`` imports pydantic (which validates stdlib dataclasses, with
    the config below) only when a config file has something to validate.
    """

    __slots__ = ()
    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "frozen": True,
        "alias_generator": to_camel,
        "populate_by_name": True,
    }

    @classmethod
    def defaults(cls) -> Self:
        """The default parameters (a class with a required field raises ``TypeError``)."""
        return cls()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def params(cls: type[T]) -> type[T]:
    """Make ``cls`` (a ``Params`` subclass) a frozen slots dataclass; list and dict defaults
    are copied for each instance, as pydantic did.

    A class without a docstring gets one naming its fields: dataclasses would otherwise
    compute one from the signature, which is half the cost of making the class (~0.7 ms, three
    dozen classes at every start)."""
    names = inspect.get_annotations(cls)
    for name in names:
        value = cls.__dict__.get(name)
        if isinstance(value, list | dict):
            setattr(cls, name, field(default_factory=functools.partial(copy.deepcopy, value)))
    if cls.__doc__ is None:
        cls.__doc__ = f"{cls.__name__}({', '.join(names)}): parameters."
    return dataclass(frozen=True, slots=True)(cls)


class Invalid(Exception):
    """Parameters or config that failed validation: ``errors`` are (location, message)."""

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))
        self.errors = errors


class Validated:
    """``Annotated[str, Validated(fn)]``: ``fn`` (raising ``ValueError``) checks the field's
    value after its type, when pydantic validates (built without importing pydantic)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.fn, handler(source))


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(cls)
    if found is None:
        from pydantic import TypeAdapter

        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def validate(cls: type[P], raw: Any) -> P:
    """``raw`` (parsed YAML) as ``cls``, or ``Invalid`` with every error's location (in the
    YAML spelling) and message (pydantic's, worded as for its models)."""
    from pydantic import ValidationError

    try:
        value: P = _adapter(cls).validate_python(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            kind, msg = err.get("type"), err.get("msg", "invalid")
            if kind == "unexpected_keyword_argument":
                msg = "Extra inputs are not permitted"
            elif kind in ("dataclass_type", "dataclass_args_type"):
                ctx = err.get("ctx") or {}
                msg = f"Input should be a valid dictionary or instance of {ctx.get('class_name')}"
            errors.append((tuple(err.get("loc", ())), msg))
        raise Invalid(errors) from None
    return value


@params
class NoParams(Params):
    pass


@fast_init
@dataclass(frozen=True, slots=True)
class Violation:
    """A finding: the offending field (path from the object root) and why."""

    path: FieldPath  # from the object root
    message: str
    container: ContainerRef | None = None
    value: Any = None
    upstream: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Skip:
    """The check cannot decide on this object; the reason is reported."""

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
    """One check: its metadata, its rule (``run``) and the type of its parameters."""

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
