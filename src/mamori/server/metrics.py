"""Prometheus metrics, one registry per app (so tests can build several apps)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingested: Counter
    duplicates: Counter
    rejected: Counter
    audit_events: Counter
    audit_rejected: Counter
    audit_alerts: Counter
    audit_backlog: Gauge
    admission: Counter

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry()
        return cls(
            registry=reg,
            requests=Counter(
                "mamori_http_requests", "HTTP requests", ["method", "route", "status"], registry=reg
            ),
            latency=Histogram(
                "mamori_http_request_seconds", "HTTP request latency", ["route"], registry=reg
            ),
            ingested=Counter(
                "mamori_ingested", "Records newly stored through the API", ["kind"], registry=reg
            ),
            duplicates=Counter(
                "mamori_ingest_duplicates",
                "Records sent again (already stored)",
                ["kind"],
                registry=reg,
            ),
            rejected=Counter(
                "mamori_ingest_rejected",
                "Batch items that failed validation",
                ["kind"],
                registry=reg,
            ),
            audit_events=Counter(
                "mamori_audit_events", "Audit events accepted by the webhook", registry=reg
            ),
            audit_rejected=Counter(
                "mamori_audit_rejected",
                "Audit webhook bodies refused as malformed (HTTP 400)",
                registry=reg,
            ),
            audit_alerts=Counter(
                "mamori_audit_alerts", "Alerts newly stored from audit events", registry=reg
            ),
            audit_backlog=Gauge(
                "mamori_audit_backlog", "Accepted audit batches not yet evaluated", registry=reg
            ),
            admission=Counter(
                "mamori_admission_reviews",
                "Admission reviews answered, by decision",
                ["decision", "dry_run"],
                registry=reg,
            ),
        )
