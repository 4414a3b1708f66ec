"""Prometheus metrics of one API process.

Each app gets its own registry (so that several apps can live in one process,
as in the tests). Every uvicorn instance is a separate process with its own
numbers: scrape each instance's port, not the load balancer.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "ragops_api_requests_total", "HTTP requests by route template and status.",
            ("method", "route", "status"), registry=self.registry,
        )
        self.latency = Histogram(
            "ragops_api_request_duration_seconds", "HTTP request latency by route template and status.",
            ("method", "route", "status"), buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.searches = Counter("ragops_searches_total", "Searches answered.", registry=self.registry)
        self.search_results = Counter(
            "ragops_search_results_total", "Documents returned by searches.", registry=self.registry
        )
        self.upserts = Counter("ragops_upserts_total", "Upsert requests done.", registry=self.registry)
        self.upserted_documents = Counter(
            "ragops_upserted_documents_total", "Documents written by upserts.", registry=self.registry,
        )
        self.backend_errors = Counter(
            "ragops_backend_errors_total", "Failed calls to Milvus or PostgreSQL.", ("backend",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "ragops_rate_limited_total", "Requests refused by the rate limit.", registry=self.registry,
        )
