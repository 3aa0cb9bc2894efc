"""Writing many rows at once (roster provisioning, the audit log's bulk append): one multi-row
statement per table — executemany on SQLite, COPY on PostgreSQL — with ids made in Python.

Why: a million new spaces would cost a million statements through the ORM; bulk jobs write each
batch with one statement per table inside the batch's transaction (ACC-8 entries included).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, Uuid
from sqlalchemy.engine import Connection, Dialect


class BulkTable:
    """A multi-row insert into one table, values converted exactly as SQLAlchemy would bind them
    (the column types' own bind processors), sent with executemany (SQLite) or COPY (PostgreSQL).

    `varying` columns come in each row; `fixed` columns have one value for the whole call, converted
    once (on SQLite, written into the statement as literals). Ids (`Uuid` columns) come as canonical
    strings from `new_ids`: SQLite stores them as 32 hex digits — what SQLAlchemy's `Uuid` binds —
    and PostgreSQL's COPY parses the canonical text. No ORM objects, no per-row statement.
    """

    def __init__(
        self, table: Table, dialect: Dialect, varying: Sequence[str], fixed: Sequence[str]
    ) -> None:
        self.name = table.name
        self.varying = tuple(varying)
        self.fixed = tuple(fixed)
        columns = self.varying + self.fixed
        missing = {c.name for c in table.columns} - set(columns)
        if missing:
            raise AssertionError(f"{table.name}: no value for {sorted(missing)}")
        self.postgres = dialect.name == "postgresql"

        def processor(name: str) -> Callable[[Any], Any] | None:
            column = table.columns[name]
            return column.type.dialect_impl(dialect).bind_processor(dialect)

        self._ids = [
            i for i, c in enumerate(self.varying) if isinstance(table.columns[c].type, Uuid)
        ]
        self._varying_processors = [
            (i, p)
            for i, p in enumerate(processor(c) for c in self.varying)
            if p is not None and i not in self._ids
        ]
        self._fixed_processors = [processor(c) for c in self.fixed]
        self._names = ", ".join(f'"{c}"' for c in columns)
        self._marks = ", ".join("?" * len(self.varying))

    def write(
        self, connection: Connection, rows: list[list[Any]], fixed: Sequence[Any] = ()
    ) -> None:
        if not rows:
            return
        constants = [
            p(v) if p is not None and v is not None else v
            for p, v in zip(self._fixed_processors, fixed, strict=True)
        ]
        for index, proc in self._varying_processors:
            memo: dict[Any, Any] = {}
            for row in rows:
                value = row[index]
                if value is not None:
                    converted = memo.get(value)
                    if converted is None:
                        converted = memo[value] = proc(value)
                    row[index] = converted
        raw = connection.connection.driver_connection
        assert raw is not None
        if self.postgres:
            with (
                raw.cursor() as cursor,
                cursor.copy(f'COPY "{self.name}" ({self._names}) FROM STDIN') as copy,
            ):
                for row in rows:
                    copy.write_row((*row, *constants))
            return
        for index in self._ids:
            for row in rows:
                value = row[index]
                if value is not None:
                    row[index] = value.replace("-", "")
        literals = ", ".join(_sqlite_literal(v) for v in constants)
        values = f"{self._marks}, {literals}" if literals else self._marks
        sql = f'INSERT INTO "{self.name}" ({self._names}) VALUES ({values})'  # noqa: S608
        cursor = raw.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()


def _sqlite_literal(value: Any) -> str:
    """A constant of a bulk insert as SQLite literal (only the types the bind processors yield)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    raise TypeError(f"no SQLite literal for {type(value).__name__}")


_UUID_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_UUID_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))


def new_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs in canonical text form, as `str(uuid.uuid4())` gives, made
    in bulk from `os.urandom` — the same source `uuid.uuid4` reads."""
    if count <= 0:
        return []
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_UUID_VERSION)
    raw[8::16] = raw[8::16].translate(_UUID_VARIANT)
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]
