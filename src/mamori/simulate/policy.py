"""The drift rules a simulation run needs, ahead of a policy's own (catalog: "a first-position
drift rule ... whatever the cluster's own policy says").

``mamori simulate --print-drift-policy > sim.yaml`` then ``mamori up --drift-policy sim.yaml``:
drift in ``mamori-sim`` alerts except the allow-listed ``/tmp/tool-allowed`` (S7 f), and drift
in ``mamori-sim-quiet`` is ignored (S7 h). Everything else keeps the base policy's rules.
"""

from __future__ import annotations

from typing import Any

import yaml

from mamori.drift.policy import default_policy_text, parse_policy
from mamori.simulate.audit_events import SIM_NAMESPACE

QUIET_NAMESPACE = "mamori-sim-quiet"
ALLOWED_TOOL = "/tmp/tool-allowed"  # noqa: S108 - a path inside the victim container

SIM_RULES: list[dict[str, Any]] = [
    {
        "name": "mamori-simulate-quiet",
        "description": "mamori simulate (S7 h): drift in the quiet namespace is ignored",
        "action": "ignore",
        "resource_scope": [
            {"category": "namespace", "operator": "equals", "values": [QUIET_NAMESPACE]}
        ],
    },
    {
        "name": "mamori-simulate",
        "description": "mamori simulate: drift in mamori-sim alerts; one allow-listed path (S7 f)",
        "action": "alert",
        "resource_scope": [
            {"category": "namespace", "operator": "equals", "values": [SIM_NAMESPACE]}
        ],
        "allow_processes": [{"path": ALLOWED_TOOL}],
    },
]


def simulation_policy_text(base: str | None = None) -> str:
    """``base`` (default: the shipped policy, alerting) with the simulation rules first."""
    data = yaml.safe_load(base if base is not None else default_policy_text("alert"))
    names = {r["name"] for r in SIM_RULES}
    own = [r for r in data.get("rules") or [] if r.get("name") not in names]
    data["rules"] = [*SIM_RULES, *own]
    text = yaml.safe_dump(data, sort_keys=False)
    policy, diags = parse_policy(text, "<simulation policy>")
    if policy is None:
        raise ValueError("; ".join(map(str, diags)))
    return text
