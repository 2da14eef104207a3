"""Kubernetes audit inputs: the webhook backend, a journal, log tailing and replay.

events.py     audit.k8s.io/v1 JSON (EventList bodies, log lines) -> core ``Event``s
detection.py  k8s_audit rules -> ``Alert``s carrying user, user agent, source IP, target
journal.py    accepted webhook batches on disk (fsync) until their alerts are stored
worker.py     the background thread that drains the journal
tail.py       rotation-safe audit log tailing with a persisted offset
replay.py     files of audit events (JSON lines or EventList documents) -> events
"""
