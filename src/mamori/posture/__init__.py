"""Kubernetes posture: data-plane hardening checks and Pod Security Standards.

Flow: sources (files, cluster, admission) -> ``Manifest`` (data + positions) -> engine (checks,
scoping, exemptions) -> ``Result``s -> reports (table, JSON, SARIF, JUnit, PolicyReport).
"""
