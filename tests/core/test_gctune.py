"""The collector settings of the long-running processes, checked in a child interpreter (a
frozen heap cannot be undone for the objects already frozen in the test process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import gc, json, weakref
    {setup}
    class Node:
        pass
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    print(json.dumps({{"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                       "cycle_freed": alive() is None}}))
    """
)


def _probe(setup: str, tmp_path: Path) -> dict[str, object]:
    env = {"MAMORI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_tuning_freezes_the_startup_heap_and_still_frees_new_cycles(tmp_path: Path) -> None:
    plain = _probe("", tmp_path)
    assert plain["frozen"] == 0
    tuned = _probe(
        "from mamori.core.gctune import tune_for_long_running\n"
        "import mamori.server.app\n"
        "tune_for_long_running()",
        tmp_path,
    )
    assert isinstance(tuned["frozen"], int)
    assert tuned["frozen"] > 10_000
    assert tuned["threshold"] == [20_000, 20, 100]
    assert tuned["cycle_freed"] is True


def test_the_multi_worker_entry_point_tunes_each_worker(tmp_path: Path) -> None:
    tuned = _probe("from mamori.server.asgi import app_from_env\napp = app_from_env()", tmp_path)
    assert isinstance(tuned["frozen"], int)
    assert tuned["frozen"] > 10_000
    assert tuned["cycle_freed"] is True
