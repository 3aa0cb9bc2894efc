"""Start-up of the command line (issue 14): CPU seconds (user + sys) of `carnet --help` and of
`carnet account show NIR` in a fresh interpreter, next to the interpreter's own start and to the
libraries any database command loads.

`make bench SECTIONS=startup`. CPU time rather than wall time: the figure holds on a loaded
machine. Each command runs once to write its bytecode caches (as an installed Carnet has them),
then CARNET_BENCH_STARTUP_RUNS times (5 by default); the median and the best are printed.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import statistics
import subprocess
import sys

from bench.common import world
from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir


def _cpu(command: list[str], env: dict[str, str]) -> float:
    """CPU seconds of one child process running `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _line(label: str, command: list[str], env: dict[str, str], runs: int) -> None:
    _cpu(command, env)  # writes the bytecode caches
    samples = [_cpu(command, env) for _ in range(runs)]
    print(f"{label:46} CPU median {statistics.median(samples):5.2f} s   best {min(samples):5.2f} s",
          flush=True)


def startup() -> None:
    runs = int(os.environ.get("CARNET_BENCH_STARTUP_RUNS", "5"))
    with world() as (settings, database, _vault):
        with database.transaction() as session:
            holder = Holder(nir=make_nir(1, 1970, 1, "75", 1, 1), birth_name="BENCH",
                            first_names="Bench", birth_date=dt.date(1970, 1, 1), sex="M",
                            state="active")
            session.add(holder)
            session.flush()
            nir = holder.nir
        env = {**os.environ, "CARNET_DATA_DIR": str(settings.data_dir),
               "CARNET_DATABASE_URL": settings.effective_database_url, "COLUMNS": "100"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        python = [sys.executable]
        _line("python -c pass (the interpreter)", [*python, "-c", "pass"], env, runs)
        _line("libraries (typer, rich, SQLAlchemy, pydantic)",
              [*python, "-c", "import typer, rich.console, sqlalchemy.orm, pydantic_settings"],
              env, runs)
        _line("carnet --help", [*python, "-m", "carnet.cli", "--help"], env, runs)
        _line("carnet account show NIR (SQLite)",
              [*python, "-m", "carnet.cli", "account", "show", nir], env, runs)
