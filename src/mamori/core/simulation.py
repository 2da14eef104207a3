"""Which events come from ``mamori simulate``: their alerts carry ``simulated=True``.

Simulation containers carry the label ``mamori.simulation=<run id>`` (on Kubernetes a pod label
of the same name); replayed audit events carry the annotation ``mamori.io/simulation``. The mark
only labels an alert (the UI shows and filters it); it never suppresses one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from mamori.core.events import Event
from mamori.core.findings import Alert

SIM_LABEL = "mamori.simulation"
SIM_ANNOTATION = "mamori.io/simulation"


def is_simulated(event: Event) -> bool:
    c = event.container
    if c is not None and SIM_LABEL in c.labels:
        return True
    k = event.k8s
    if k is not None and SIM_LABEL in k.pod_labels:
        return True
    if event.audit is not None:
        annotations = event.audit.raw.get("annotations")
        return isinstance(annotations, Mapping) and SIM_ANNOTATION in annotations
    return False


def mark_simulated(alert: Alert) -> Alert:
    return alert if alert.simulated else dataclasses.replace(alert, simulated=True)
