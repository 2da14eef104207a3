from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from mamori.core.events import Event, EventKind, ProcessInfo
from mamori.core.fastinit import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = ()
    seen: list[int] = field(default_factory=list)


def test_same_signature_as_the_dataclass_one() -> None:
    @dataclass(frozen=True, slots=True)
    class Plain:
        x: int
        y: int = 2
        tags: tuple[str, ...] = ()
        seen: list[int] = field(default_factory=list)

    fast = inspect.signature(Point.__init__).parameters
    plain = inspect.signature(Plain.__init__).parameters
    assert list(fast) == list(plain)
    assert [p.kind for p in fast.values()] == [p.kind for p in plain.values()]
    assert fast["y"].default == 2
    assert fast["x"].default is inspect.Parameter.empty


def test_defaults_factories_and_keywords() -> None:
    a, b = Point(1), Point(1)
    assert (a.x, a.y, a.tags, a.seen) == (1, 2, (), [])
    assert a.seen is not b.seen  # a fresh list each time, as default_factory promises
    assert Point(1, y=5, tags=("t",)) == Point(1, 5, ("t",), [])
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_still_frozen_and_replaceable() -> None:
    p = Point(1, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    assert dataclasses.replace(p, y=4) == Point(1, 4)
    assert repr(p) == "Point(x=1, y=3, tags=(), seen=[])"


def test_hot_classes_keep_their_fields() -> None:
    proc = ProcessInfo(pid=7, name="sh")
    assert hash(ProcessInfo(pid=7, name="sh", exe_flags=())) == hash(  # type: ignore[arg-type]
        ProcessInfo(pid=7, name="sh", exe_flags=())  # type: ignore[arg-type]
    )
    event = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, process=proc)
    assert (proc.exe_flags, proc.args, proc.parent) == ({}, (), None)
    assert (event.args, event.process, event.syscall) == ({}, proc, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.time_ns = 2  # type: ignore[misc]


def _post_init() -> type:
    @dataclass(frozen=True, slots=True)
    class C:
        x: int

        def __post_init__(self) -> None:
            pass

    return C


def _kw_only() -> type:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class D:
        x: int

    return D


def _no_init() -> type:
    @dataclass(frozen=True, slots=True)
    class E:
        x: int = field(init=False, default=1)

    return E


def _plain(**params: bool) -> type:
    return dataclass(**params)(type("A", (), {"__annotations__": {"x": int}}))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "make",
    [
        lambda: _plain(slots=True),  # not frozen
        lambda: _plain(frozen=True),  # no slots
        _post_init,
        _kw_only,
        _no_init,
    ],
)
def test_refuses_what_it_does_not_handle(make: Callable[[], type]) -> None:
    cls = make()
    with pytest.raises(TypeError, match="fast_init"):
        fast_init(cls)
