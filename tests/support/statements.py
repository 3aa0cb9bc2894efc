"""Counting the statements the database executes, as Warehouse's query recorder does.

A `before_cursor_execute` listener on every SQLAlchemy engine (the class, so the engines a
`Database` makes lazily — the read-mostly engine, the group commit's side engine — are counted
too) records each statement sent while a `Statements` recorder is active. An executemany is one
statement (one round trip); what SQLAlchemy sends itself to open a transaction on SQLite
(`BEGIN`) is counted, since the database executes it.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Statements:
    """The statements executed while the recorder was active, in order."""

    executed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.executed)

    def report(self) -> str:
        """Every statement on one line each, for a failed budget's message."""
        lines = [" ".join(s.split())[: 2000 if _TRACE else 160] for s in self.executed]
        return f"{self.count} statements:\n" + "\n".join(
            f"{n:3d}. {line}" for n, line in enumerate(lines, 1)
        )


_lock = threading.Lock()
_TRACE = os.environ.get("CARNET_TRACE_STATEMENTS") == "1"  # where each one comes from
_active: list[Statements] = []


def _on_execute(
    _connection: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    with _lock:
        for recorder in _active:
            recorder.executed.append(statement)
            if _TRACE:
                recorder.executed[-1] += (
                    " <- "
                    + " < ".join(
                        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}:{f.name}"
                        for f in traceback.extract_stack()
                        if "/carnet/" in f.filename and "/tests/" not in f.filename
                    )[-600:]
                )


event.listen(Engine, "before_cursor_execute", _on_execute)


@contextmanager
def recording() -> Iterator[Statements]:
    """Record every statement executed, by any engine and thread, until the block ends."""
    recorder = Statements()
    with _lock:
        _active.append(recorder)
    try:
        yield recorder
    finally:
        with _lock:
            _active.remove(recorder)
