"""Prometheus metrics: one registry per app (tests run several apps in one process).

Counters and histograms are updated as things happen; document counts by status and breaker
states are read from the store at scrape time, so they are right across several processes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "pasarela_attempts",
            "Provider calls by account and outcome",
            ["tenant", "account", "provider", "outcome"],
            registry=self.registry,
        )
        self.attempt_latency = Histogram(
            "pasarela_attempt_latency_seconds",
            "Provider call latency",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "pasarela_request_latency_seconds",
            "API request latency",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.documents = Gauge(
            "pasarela_documents",
            "Documents by tenant, status and provider (read from the store at scrape time)",
            ["tenant", "status", "provider"],
            registry=self.registry,
        )
        self.breaker = Gauge(
            "pasarela_breaker_state",
            "Circuit state per account: 0 closed, 1 half-open, 2 open",
            ["tenant", "account"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "pasarela_webhook_deliveries",
            "Webhook delivery attempts by result",
            ["tenant", "result"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
