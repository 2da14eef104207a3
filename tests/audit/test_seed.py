"""Seeding the exposure inventory from a cluster's lists (the API server is an httpx
MockTransport: no API server runs here)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx

from mamori.audit.pipeline import build_pipeline
from mamori.audit.seed import seed_from_cluster
from mamori.posture.sources.cluster import from_kubeconfig
from tests.audit.corpus_util import mamori_detector, run_stateful, sequence

KUBECONFIG: dict[str, Any] = {
    "current-context": "dev",
    "contexts": [{"name": "dev", "context": {"cluster": "kind", "user": "me"}}],
    "clusters": [{"name": "kind", "cluster": {"server": "https://k8s.example:6443"}}],
    "users": [{"name": "me", "user": {"token": "t0ken"}}],
}


def listed() -> dict[str, list[dict[str, Any]]]:
    """The objects of the 'service first' sequence as the API server would list them."""
    raws = sequence("exposure-redis-service-first")
    service = raws[0]["responseObject"]
    pods = [r["responseObject"] for r in raws if r["objectRef"]["resource"] == "pods"
            and r["verb"] == "create"]  # fmt: skip
    return {"/api/v1/services": [service], "/api/v1/pods": pods,
            "/api/v1/namespaces": [{"metadata": {"name": "cache"}}]}  # fmt: skip


def fake_api(objects: dict[str, list[dict[str, Any]]], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        assert request.headers["authorization"] == "Bearer t0ken"
        return httpx.Response(200, json={"items": objects.get(request.url.path, []),
                                         "metadata": {}})  # fmt: skip

    return httpx.MockTransport(handler)


def test_seeded_objects_join_later_events_and_known_exposures_stay_quiet() -> None:
    seen: list[str] = []
    api = from_kubeconfig(KUBECONFIG, None, Path("."), transport=fake_api(listed(), seen))
    pipeline = build_pipeline(mamori_detector())
    assert pipeline.stateful is not None
    counts = seed_from_cluster(pipeline.stateful, api, "test")
    assert (counts["services"], counts["pods"], counts["deployments"]) == (1, 3, 0)
    assert "/apis/apps/v1/deployments" in seen
    raws = sequence("exposure-redis-service-first")
    # the seeded Service already exposes redis pods: a new replica raises nothing ...
    assert run_stateful([raws[1]], pipeline) == []
    # ... while a second, new LoadBalancer Service selecting the seeded pods does
    other = copy.deepcopy(raws[0])
    other["auditID"] = "7a3c3d1e-0000-4000-8000-000000000001"
    other["objectRef"]["name"] = "cache-2"
    other["responseObject"]["metadata"]["name"] = "cache-2"
    [(_, alert)] = run_stateful([other], pipeline)
    assert alert.fields["mamori.reason"] == "redis image"
    assert sorted(alert.fields["mamori.pods"]) == [
        "cache-5d9c7b8f4-abcde", "cache-5d9c7b8f4-fghij", "cache-6f7d8e9a1-klmno",
    ]  # fmt: skip


def test_without_a_seed_the_service_update_is_the_first_the_inventory_hears() -> None:
    raws = sequence("exposure-redis-service-first")
    pipeline = build_pipeline(mamori_detector())
    # only the replica's create: the Service is unknown, so nothing joins
    assert run_stateful([raws[1]], pipeline) == []
