"""Prometheus metrics of this process, served at `GET /metrics` to the operator's scraper.

Labels are closed sets chosen by Carnet: route templates (never the raw path, which can carry a
NIR or a record id), HTTP methods, statuses, operation names. No label or value ever holds a
person's data (docs/security.md): an operator may ship these figures anywhere.

The metrics live in a registry of their own, not prometheus_client's global one, so that the tests'
and several apps in one process never register the same name twice. Queue depths are read from
the scraped app's database when the scrape happens (one COUNT each), not kept in the process.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

if TYPE_CHECKING:  # the CLI imports this module (blob store, audit) without the web stack
    from fastapi import FastAPI

    from carnet.db import Database

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "carnet_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ("route", "method", "status"),
    registry=REGISTRY,
)
LATENCY = Histogram(
    "carnet_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ("route",),
    registry=REGISTRY,
)
BLOB_STORE_ERRORS = Counter(
    "carnet_blob_store_errors",
    "Failures of the blob store, by operation (put: a write failed; open: a blob is missing).",
    ("operation",),
    registry=REGISTRY,
)
GROUP_COMMIT_ENTRIES = Histogram(
    "carnet_audit_group_commit_entries",
    "Audit entries of reads appended by one group commit (carnet.audit.group).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)

# Any other method a client sends is counted as "other": the label set stays closed.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# (route, method, status) -> its two series: one dict lookup per request on the hot path rather
# than two `labels()` calls. Bounded, as the label sets are closed.
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request under its route template (`http.RequestContext`)."""
    series = _series.get((route, method, status))
    if series is None:
        counted = method if method in _METHODS else "other"
        series = (REQUESTS.labels(route, counted, str(status)), LATENCY.labels(route))
        if counted == method:  # an unusual method would grow the dict: never kept
            _series[(route, method, status)] = series
    series[0].inc()
    series[1].observe(seconds)


def queue_depths(database: "Database") -> dict[str, int]:
    """Work waiting, one COUNT each: e-mails of the outbox not yet sent (or being retried), and
    job runs not done (running, or failed and taken over by the next pass).

    The base knows no domain: the two tables' models are imported at scrape time only.
    """
    from carnet.jobs.models import DONE, JobRun
    from carnet.notifications.models import PENDING, OutboxMessage

    with database.read_mostly() as session:
        outbox = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
        )
        jobs = session.scalar(select(func.count()).select_from(JobRun).where(JobRun.status != DONE))
    return {"outbox": outbox or 0, "jobs": jobs or 0}


class _Scrape:
    """What one scrape exports: the process's metrics, then the app's queue depths."""

    def __init__(self, database: "Database") -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        depth = GaugeMetricFamily(
            "carnet_queue_depth", "Items waiting in a queue (outbox, jobs).", labels=("queue",)
        )
        for queue, count in queue_depths(self.database).items():
            depth.add_metric((queue,), count)
        yield depth


def exposition(database: "Database") -> bytes:
    """The text exposition format (0.0.4) of everything `/metrics` exports."""
    return generate_latest(_Scrape(database))


def install(app: "FastAPI") -> None:
    """Add `GET /metrics` to `app` (registry.CORE). Built at app creation, so that this module
    stays importable without the web stack (the CLI) nor the access layer (which imports it).
    This module has no postponed annotations: the route's are evaluated here, for FastAPI."""
    from fastapi import APIRouter, Request, Response
    from fastapi.responses import PlainTextResponse

    from carnet.access.routes import operator_token
    from carnet.http import error_responses, get_database

    router = APIRouter(tags=["health"])
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Prometheus text exposition format 0.0.4."},
        **error_responses(401, 404),
    }

    @router.get(
        "/metrics",
        dependencies=[operator_token("metrics_token")],
        response_class=PlainTextResponse,
        responses=responses,
    )
    def metrics(request: Request) -> Response:
        """Figures for the operator's Prometheus: requests, latencies, queues, group commits,
        blob store errors. Needs `Authorization: Bearer <CARNET_METRICS_TOKEN>`; while that
        setting is unset, there is no such resource (404)."""
        return Response(exposition(get_database(request)), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.include_router(router)
