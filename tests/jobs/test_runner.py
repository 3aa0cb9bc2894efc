"""The background runner of `carnet serve`: starts and stops with the app, survives failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.jobs import service
from carnet.jobs.service import JobContext, job, start_background_runner, unregister


def _runner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "carnet-jobs" and t.is_alive()]


@pytest.fixture
def ran() -> Iterator[threading.Event]:
    event = threading.Event()

    @job("test.signal", period="always")
    def _signal(ctx: JobContext) -> str:
        event.set()
        return "signalled"

    yield event
    unregister("test.signal")


def test_runner_runs_jobs_while_the_app_is_served(app: FastAPI, ran: threading.Event) -> None:
    start_background_runner(app, 3600)
    assert not ran.is_set()

    with TestClient(app):
        assert ran.wait(30)
        assert len(_runner_threads()) == 1

    assert _runner_threads() == []


def test_runner_survives_a_failing_pass(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    second_pass = threading.Event()
    passes: list[int] = []

    def flaky_run_due(database: Database, settings: Settings) -> list[service.JobOutcome]:
        passes.append(1)
        if len(passes) == 1:
            raise OSError("database gone")
        second_pass.set()
        return []

    monkeypatch.setattr(service, "run_due", flaky_run_due)
    start_background_runner(app, 0.01)

    with TestClient(app):
        assert second_pass.wait(30)

    failures = [r for r in caplog.records if r.getMessage() == "scheduled job pass failed"]
    assert [getattr(r, "error_type", None) for r in failures] == ["OSError"]
    assert "database gone" not in caplog.text


def test_runner_refuses_a_zero_interval(app: FastAPI) -> None:
    with pytest.raises(ValueError):
        start_background_runner(app, 0)
