"""Running scheduled jobs: the registry, the due-ness rule, and the background runner.

Jobs are plain functions registered with `@job` by the domain that owns them. A pass runs them in
registration order, except that a job runs before the jobs its `before` names (a job that queues
notices runs before the jobs that print and send them, so they leave in the same pass). A daily job runs once
per calendar day (counted in `settings.timezone`), an "always" job on every pass. Each run is claimed
by writing its `JobRun` row first, in its own transaction: the unique (name, period_key) key keeps
two workers from running the same daily job, and a `done` row makes a second pass the same day skip
it. A failed run is taken over, hence retried, by the next pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet import clock, registry
from carnet.config import Settings
from carnet.db import Database, new_id
from carnet.errors import CarnetError, InvalidInput
from carnet.jobs.models import DONE, FAILED, RUNNING, JobRun

if TYPE_CHECKING:  # the runner is started by `carnet serve`; `carnet jobs run` needs no web stack
    from fastapi import FastAPI

log = logging.getLogger("carnet.jobs")

Period = Literal["daily", "always"]
ALWAYS_KEY = "always"
# A run still `running` after this long is presumed dead (worker killed) and may be taken over.
RUN_LEASE = dt.timedelta(hours=1)
# How long server shutdown waits for a job in progress to finish its transaction.
SHUTDOWN_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class JobContext:
    """What a job receives: it opens its own transactions with `database.transaction()`."""

    database: Database
    settings: Settings
    as_of: dt.date
    now: dt.datetime


JobFunction = Callable[[JobContext], str]


@dataclass(frozen=True)
class Job:
    name: str
    period: Period
    fn: JobFunction
    before: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobOutcome:
    """What a pass did with one job: "ran", "skipped" (done or running elsewhere) or "failed"."""

    name: str
    period: Period
    status: Literal["ran", "skipped", "failed"]
    summary: str


_registry: dict[str, Job] = {}


def job(
    name: str, period: Period, *, before: tuple[str, ...] = ()
) -> Callable[[JobFunction], JobFunction]:
    """Register `fn(ctx) -> one-line summary` as a scheduled job, to run in a pass before the
    jobs named in `before` (names not registered are ignored)."""
    if not name or len(name) > 100:
        raise ValueError("a job name has 1 to 100 characters")
    if period not in ("daily", "always"):
        raise ValueError(f"unknown job period {period!r}")

    def register(fn: JobFunction) -> JobFunction:
        if name in _registry:
            raise ValueError(f"job {name!r} is registered twice")
        _registry[name] = Job(name=name, period=period, fn=fn, before=before)
        return fn

    return register


def unregister(name: str) -> None:
    """Forget a job (tests register their own)."""
    _registry.pop(name, None)


def registered_jobs() -> list[Job]:
    """Registered jobs in the order a pass runs them: registration order, moved only as far as
    every `before` asks (whatever order the modules happened to be imported in)."""
    runs_first: dict[str, list[str]] = {name: [] for name in _registry}
    for registered in _registry.values():
        for later in registered.before:
            if later in runs_first:
                runs_first[later].append(registered.name)
    ordered: list[Job] = []
    placed: set[str] = set()

    def place(name: str, path: tuple[str, ...]) -> None:
        if name in placed:
            return
        if name in path:
            raise ValueError(f"jobs ordered in a cycle: {' -> '.join((*path, name))}")
        for earlier in runs_first[name]:
            place(earlier, (*path, name))
        placed.add(name)
        ordered.append(_registry[name])

    for name in _registry:
        place(name, ())
    return ordered


def load_jobs() -> None:
    """Import the modules that register jobs (declared in each domain's `domain.py`), so that
    every pass sees all of them."""
    registry.load_jobs()


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(value: str) -> dt.date:
    """A YYYY-MM-DD day typed by an operator."""
    try:
        if _DATE_RE.fullmatch(value.strip()):
            return dt.date.fromisoformat(value.strip())
    except ValueError:
        pass
    raise InvalidInput(f"{value!r} is not a date; write it YYYY-MM-DD, e.g. 2026-01-02.")


def run_due(
    database: Database, settings: Settings, *, as_of: dt.date | None = None
) -> list[JobOutcome]:
    """Run every job that is due; `as_of` runs them as if it were noon of that day."""
    load_jobs()
    if as_of is None:
        return _run_all(database, settings, clock.today(settings.timezone))
    noon = clock.start_of_day(as_of, settings.timezone) + dt.timedelta(hours=12)
    with clock.frozen_at(noon):
        return _run_all(database, settings, as_of)


def _run_all(database: Database, settings: Settings, as_of: dt.date) -> list[JobOutcome]:
    context = JobContext(database=database, settings=settings, as_of=as_of, now=clock.now())
    outcomes: list[JobOutcome] = []
    for registered in registered_jobs():
        key = as_of.isoformat() if registered.period == "daily" else ALWAYS_KEY
        claim, reason = _claim(database, registered.name, key)
        if claim is None:
            outcomes.append(JobOutcome(registered.name, registered.period, "skipped", reason))
            continue
        try:
            summary = _one_line(str(registered.fn(context)))
        except Exception as exc:
            # The class only: an exception's message may quote the data being processed.
            log.error(
                "job failed", extra={"job": registered.name, "error_type": type(exc).__name__}
            )
            summary = _failure_summary(exc)
            _finish(database, claim, FAILED, summary)
            outcomes.append(JobOutcome(registered.name, registered.period, "failed", summary))
        else:
            _finish(database, claim, DONE, summary)
            log.info("job done", extra={"job": registered.name, "period_key": key})
            outcomes.append(JobOutcome(registered.name, registered.period, "ran", summary))
    return outcomes


@dataclass(frozen=True)
class _Claim:
    run_id: uuid.UUID
    started_at: dt.datetime


def _wall_now() -> dt.datetime:
    """Real time, not `clock.now()`: run records and leases say when a run really happened, so a
    run under `--as-of` in the future cannot hold a lease until that day."""
    return dt.datetime.now(dt.UTC)


def _claim(database: Database, name: str, key: str) -> tuple[_Claim | None, str]:
    """Take the (name, key) run for this worker, or say why not.

    An existing row is locked (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises anyway) and taken over
    when its run failed or died, or is an "always" run that is over. Two workers inserting the first
    row at once are told apart by the unique key: the loser skips.
    """
    started_at = _wall_now()
    try:
        with database.transaction() as session:
            row = session.scalars(
                select(JobRun)
                .where(JobRun.name == name, JobRun.period_key == key)
                .with_for_update()
            ).one_or_none()
            if row is None:
                row = JobRun(
                    id=new_id(),
                    name=name,
                    period_key=key,
                    started_at=started_at,
                    status=RUNNING,
                    summary="",
                )
                session.add(row)
                session.flush()
                return _Claim(row.id, started_at), ""
            if row.status == DONE and key != ALWAYS_KEY:
                return None, f"already done: {row.summary}"
            if row.status == RUNNING and row.started_at > started_at - RUN_LEASE:
                return None, "running elsewhere"
            row.status = RUNNING
            row.started_at = started_at
            row.finished_at = None
            row.summary = ""
            return _Claim(row.id, started_at), ""
    except IntegrityError:
        return None, "running elsewhere"


def _finish(database: Database, claim: _Claim, status: str, summary: str) -> None:
    """Record the outcome, unless a later worker took the run over meanwhile."""
    with database.transaction() as session:
        session.execute(
            update(JobRun)
            .where(
                JobRun.id == claim.run_id,
                JobRun.started_at == claim.started_at,
                JobRun.status == RUNNING,
            )
            .values(status=status, finished_at=_wall_now(), summary=summary[:500])
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _failure_summary(exc: Exception) -> str:
    """Carnet's own errors have messages meant for operators; others are named by class only."""
    if isinstance(exc, CarnetError):
        return _one_line(f"{type(exc).__name__}: {exc.message}")
    return type(exc).__name__


def last_runs(session: Session) -> dict[str, JobRun]:
    """The latest run of each registered job (for `carnet jobs list`)."""
    runs: dict[str, JobRun] = {}
    for registered in registered_jobs():
        run = session.scalars(
            select(JobRun)
            .where(JobRun.name == registered.name)
            .order_by(JobRun.started_at.desc())
            .limit(1)
        ).first()
        if run is not None:
            runs[registered.name] = run
    return runs


def start_background_runner(app: FastAPI, interval_seconds: float) -> None:
    """Run due jobs every `interval_seconds` in a daemon thread while the app is being served.

    The thread starts with the app and stops with it; a pass that raises is logged and the next pass
    happens as usual, so a broken job or an unreachable database never takes the server down.
    """
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    inner = app.router.lifespan_context

    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                run_due(app.state.database, app.state.settings)
            except Exception as exc:
                log.error("scheduled job pass failed", extra={"error_type": type(exc).__name__})
            stop.wait(interval_seconds)

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            stop = threading.Event()
            thread = threading.Thread(target=loop, args=(stop,), name="carnet-jobs", daemon=True)
            thread.start()
            try:
                yield state
            finally:
                stop.set()
                # Off the event loop: a job in progress may take a moment to commit.
                await asyncio.to_thread(thread.join, SHUTDOWN_GRACE_SECONDS)

    app.router.lifespan_context = lifespan
