"""Running due jobs: daily jobs once per day, failures retried, concurrent passes safe."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from carnet import clock
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.jobs import service
from carnet.jobs.models import JobRun
from carnet.jobs.service import JobContext, JobOutcome, job, run_due, unregister
from carnet.notifications.service import enqueue

DAY = dt.date(2026, 1, 2)


def _outcome(outcomes: list[JobOutcome], name: str) -> JobOutcome:
    [found] = [o for o in outcomes if o.name == name]
    return found


@pytest.fixture
def daily_calls() -> Iterator[list[tuple[JobContext, dt.date]]]:
    """A daily test job recording its context and the day the clock says it is."""
    calls: list[tuple[JobContext, dt.date]] = []

    @job("test.daily", period="daily")
    def _daily(ctx: JobContext) -> str:
        calls.append((ctx, clock.today(ctx.settings.timezone)))
        return f"counted {ctx.as_of}"

    yield calls
    unregister("test.daily")


@pytest.fixture
def flaky_calls() -> Iterator[list[dt.date]]:
    """A daily test job that fails on its first call only."""
    calls: list[dt.date] = []

    @job("test.flaky", period="daily")
    def _flaky(ctx: JobContext) -> str:
        calls.append(ctx.as_of)
        if len(calls) == 1:
            raise RuntimeError("holder 1234 could not be read")
        return "recovered"

    yield calls
    unregister("test.flaky")


def test_daily_job_runs_once_per_day(
    database: Database, settings: Settings, daily_calls: list[tuple[JobContext, dt.date]]
) -> None:
    first = run_due(database, settings, as_of=DAY)
    second = run_due(database, settings, as_of=DAY)

    assert _outcome(first, "test.daily") == JobOutcome(
        "test.daily", "daily", "ran", "counted 2026-01-02"
    )
    assert _outcome(second, "test.daily").status == "skipped"
    assert "already done" in _outcome(second, "test.daily").summary
    assert len(daily_calls) == 1

    third = run_due(database, settings, as_of=DAY + dt.timedelta(days=1))
    assert _outcome(third, "test.daily").status == "ran"
    assert [ctx.as_of for ctx, _ in daily_calls] == [DAY, DAY + dt.timedelta(days=1)]


def test_as_of_sets_the_clock_for_the_job(
    database: Database, settings: Settings, daily_calls: list[tuple[JobContext, dt.date]]
) -> None:
    run_due(database, settings, as_of=DAY)

    [(ctx, today_in_job)] = daily_calls
    assert today_in_job == DAY
    assert ctx.now == dt.datetime(2026, 1, 2, 12, 0, tzinfo=ZoneInfo(settings.timezone))
    assert clock.now() != ctx.now  # the clock is released after the pass


def test_without_as_of_the_day_is_today_in_the_configured_zone(
    database: Database, settings: Settings, daily_calls: list[tuple[JobContext, dt.date]]
) -> None:
    # 23:30 UTC on 31 December is already 1 January in Paris.
    with clock.frozen_at(dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)):
        run_due(database, settings)

    assert [ctx.as_of for ctx, _ in daily_calls] == [dt.date(2026, 1, 1)]


def test_failed_job_is_reported_then_retried(
    database: Database,
    settings: Settings,
    flaky_calls: list[dt.date],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="carnet.jobs")

    failed = _outcome(run_due(database, settings, as_of=DAY), "test.flaky")
    assert (failed.status, failed.summary) == ("failed", "RuntimeError")
    [record] = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert (getattr(record, "job", None), getattr(record, "error_type", None)) == (
        "test.flaky",
        "RuntimeError",
    )
    assert "1234" not in caplog.text

    retried = _outcome(run_due(database, settings, as_of=DAY), "test.flaky")
    assert (retried.status, retried.summary) == ("ran", "recovered")
    assert flaky_calls == [DAY, DAY]
    with database.transaction() as session:
        runs = session.scalars(select(JobRun).where(JobRun.name == "test.flaky")).all()
    assert [(r.period_key, r.status, r.summary) for r in runs] == [
        ("2026-01-02", "done", "recovered")
    ]


def test_always_job_runs_on_every_pass(database: Database, settings: Settings) -> None:
    calls: list[dt.datetime] = []

    @job("test.always", period="always")
    def _always(ctx: JobContext) -> str:
        calls.append(ctx.now)
        return "ok"

    try:
        run_due(database, settings, as_of=DAY)
        outcomes = run_due(database, settings, as_of=DAY)
    finally:
        unregister("test.always")

    assert _outcome(outcomes, "test.always").status == "ran"
    assert len(calls) == 2


def test_a_job_running_elsewhere_is_skipped(database: Database, settings: Settings) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[dt.date] = []

    @job("test.slow", period="daily")
    def _slow(ctx: JobContext) -> str:
        calls.append(ctx.as_of)
        started.set()
        assert release.wait(30)
        return "slow done"

    results: list[list[JobOutcome]] = []
    worker = threading.Thread(target=lambda: results.append(run_due(database, settings)))
    try:
        worker.start()
        assert started.wait(30)
        concurrent = _outcome(run_due(database, settings), "test.slow")
        release.set()
        worker.join(30)
    finally:
        release.set()
        unregister("test.slow")

    assert (concurrent.status, concurrent.summary) == ("skipped", "running elsewhere")
    assert _outcome(results[0], "test.slow").status == "ran"
    assert len(calls) == 1


def test_run_abandoned_by_a_dead_worker_is_taken_over(
    database: Database, settings: Settings, daily_calls: list[tuple[JobContext, dt.date]]
) -> None:
    with database.transaction() as session:
        session.add(
            JobRun(
                name="test.daily",
                period_key=DAY.isoformat(),
                started_at=dt.datetime.now(dt.UTC) - service.RUN_LEASE - dt.timedelta(minutes=1),
                status="running",
                summary="",
            )
        )

    outcome = _outcome(run_due(database, settings, as_of=DAY), "test.daily")

    assert outcome.status == "ran"
    assert len(daily_calls) == 1


def test_outbox_job_delivers_due_mail(database: Database, settings: Settings) -> None:
    with database.transaction() as session:
        message_id = enqueue(
            session, kind="test.notice", recipient="ana@example.org", subject="Hi", body_text="."
        ).id

    outcome = _outcome(run_due(database, settings), "outbox.deliver")

    assert (outcome.status, outcome.summary) == ("ran", "1 sent, 0 to retry, 0 failed")
    assert (settings.outbox_dir / f"{message_id}.eml").exists()


def test_registering_a_name_twice_is_refused() -> None:
    service.load_jobs()
    with pytest.raises(ValueError, match="registered twice"):
        job("outbox.deliver", period="always")(lambda ctx: "")


@pytest.mark.parametrize("text", ["not-a-date", "2026-02-30", "02/01/2026", ""])
def test_parse_day_refuses_non_dates(text: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        service.parse_day(text)


def test_parse_day_reads_iso_dates() -> None:
    assert service.parse_day("2026-01-02") == DAY


def _names(prefix: str) -> list[str]:
    return [j.name for j in service.registered_jobs() if j.name.startswith(prefix)]


def test_a_job_runs_before_the_jobs_it_names_whatever_the_import_order() -> None:
    def noop(ctx: JobContext) -> str:
        return ""

    # Registered (imported) first, yet it runs after the job that names it in `before`.
    job("test.order.print", period="daily")(noop)
    job("test.order.other", period="daily")(noop)
    job("test.order.queue", period="daily", before=("test.order.print", "test.nobody"))(noop)
    try:
        assert _names("test.order.") == ["test.order.queue", "test.order.print", "test.order.other"]
    finally:
        for name in ("print", "other", "queue"):
            unregister(f"test.order.{name}")


def test_jobs_ordered_in_a_cycle_are_refused() -> None:
    def noop(ctx: JobContext) -> str:
        return ""

    job("test.cycle.a", period="daily", before=("test.cycle.b",))(noop)
    job("test.cycle.b", period="daily", before=("test.cycle.a",))(noop)
    try:
        with pytest.raises(ValueError, match="cycle"):
            service.registered_jobs()
    finally:
        unregister("test.cycle.a")
        unregister("test.cycle.b")
