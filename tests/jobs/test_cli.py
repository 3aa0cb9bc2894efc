"""`carnet jobs …` through the real command line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carnet.db import Database
from carnet.jobs.service import JobContext, job, unregister


@pytest.fixture(autouse=True)
def _emptied_afterwards(database: Database) -> None:
    """On PostgreSQL only the `database` fixture empties the tables after a test."""


@pytest.fixture
def daily_job() -> Iterator[list[str]]:
    calls: list[str] = []

    @job("test.daily", period="daily")
    def _daily(ctx: JobContext) -> str:
        calls.append(ctx.as_of.isoformat())
        return f"counted {ctx.as_of}"

    yield calls
    unregister("test.daily")


@pytest.fixture
def failing_job() -> Iterator[None]:
    @job("test.broken", period="daily")
    def _broken(ctx: JobContext) -> str:
        raise RuntimeError("boom")

    yield
    unregister("test.broken")


def test_jobs_run_as_of_lists_every_job(run_cli, daily_job: list[str]) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("jobs", "run", "--as-of", "2026-01-02")
    assert status == 0, err
    assert "outbox.deliver" in out
    assert "test.daily" in out
    assert "counted 2026-01-02" in out
    assert daily_job == ["2026-01-02"]

    status, out, _err = run_cli("jobs", "run", "--as-of", "2026-01-02")
    assert status == 0
    assert "skipped" in out
    assert daily_job == ["2026-01-02"]


def test_jobs_run_rejects_a_bad_date_readably(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("jobs", "run", "--as-of", "not-a-date")
    assert status != 0
    assert "'not-a-date' is not a date; write it YYYY-MM-DD" in err
    assert "Traceback" not in out + err


def test_jobs_run_exits_non_zero_when_a_job_fails(run_cli, failing_job: None) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("jobs", "run")
    assert status == 1
    assert "test.broken" in out
    assert "RuntimeError" in out
    assert "1 job(s) failed: test.broken" in err
    assert "boom" not in out + err


def test_jobs_list_shows_last_runs(run_cli, daily_job: list[str]) -> None:  # type: ignore[no-untyped-def]
    status, out, _err = run_cli("jobs", "list")
    assert status == 0
    assert "never" in out

    run_cli("jobs", "run", "--as-of", "2026-01-02")
    status, out, _err = run_cli("jobs", "list")
    assert status == 0
    assert "test.daily" in out
    assert "done" in out
    assert "never" not in out
