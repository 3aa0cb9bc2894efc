"""Scaffolding shared by the benchmark sections: a throw-away data dir and database."""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from carnet.config import Settings
from carnet.db import Database
from carnet.migrate import upgrade
from carnet.vault.service import Vault


@contextmanager
def world(database_url: str | None = None) -> Iterator[tuple[Settings, Database, Vault]]:
    """A fresh, migrated Carnet in a temporary directory (SQLite unless a URL is given)."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        url = database_url or f"sqlite:///{data_dir / 'carnet.db'}"
        # One bench holder uploads thousands of documents: the per-person rate and the space's
        # quota (DOC-1) would stop it; they are still counted, as for everyone.
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            jobs_interval_seconds=0,
            upload_rate_per_minute=10**9,
            space_quota_bytes=2**50,
        )
        database = Database(url, pool_size=16)
        upgrade(database)
        vault = Vault.from_settings(settings)
        try:
            yield settings, database, vault
        finally:
            database.dispose()


def postgres_url() -> str | None:
    """The PostgreSQL URL to measure against, when one answers (a fresh schema is used)."""
    url = os.environ.get("CARNET_BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
    database = Database(url, pool_size=1)
    try:
        database.ping()
    except Exception:
        return None
    finally:
        database.dispose()
    return url


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


# Every figure set against its raw baseline, gathered for the summary `bench.run` prints last.
SUMMARY: list[str] = []


def compare(
    label: str, carnet: float, raw: float, unit: str, *, target: str, higher_is_better: bool = True
) -> None:
    """Print one figure beside its raw baseline from the same run, with the ratio and the target.

    The ratio is always "share of the raw figure reached": carnet/raw for rates, raw/carnet for
    durations, so 100 % means "as fast as the simplest code doing the same essential I/O".
    """
    share = (carnet / raw if higher_is_better else raw / carnet) if carnet and raw else 0.0
    line = (
        f"{label}: Carnet {carnet:,.1f} {unit}, raw {raw:,.1f} {unit}, "
        f"{share * 100:.0f} % of raw (target {target})"
    )
    print(line, flush=True)
    SUMMARY.append(line)
