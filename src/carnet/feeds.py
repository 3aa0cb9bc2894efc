"""What the operators' bulk imports share (roster, reimbursement feed): the file source and the
rejects file.

The file is streamed (CSV with a header through the C `csv` reader, or NDJSON line by line): only
the current line is held. Problems of single lines are yielded as lists of `Reject` and never stop
the run; a file that cannot be used at all raises InvalidInput (the CLI exits 1). Rejects say which
line, which field and why, never who: no NIR, name or amount is written there (ACC-8).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from carnet.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem of one line: what the rejects file says. Never carries a NIR or a name."""

    line: int
    field: str
    reason: str


LINE_FIELD = ""  # the rejects file's `field` when the whole line is at fault
RawRow = tuple[int, dict[str, str | None]]


def _text_value(value: Any) -> str | None:
    """NDJSON values of a roster: strings only (TypeError otherwise)."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError


@dataclass(frozen=True, slots=True)
class Layout:
    """What a bulk file must look like: its columns, and how NDJSON values are read.

    `what` names the file in errors ("roster"), `code` is the error code of an unusable file.
    `required` keys must be present in every NDJSON object; `ndjson_value` turns a JSON value into
    the column's text (TypeError: `type_reason` is the reject); `numbers_as_text` parses JSON
    numbers as written (amounts stay exact).
    """

    what: str
    code: str
    columns: tuple[str, ...]
    required: tuple[str, ...] = ()
    ndjson_value: Callable[[Any], str | None] = _text_value
    type_reason: str = "must be a JSON string"
    numbers_as_text: bool = False


class FileSource:
    """A bulk file opened for streaming: CSV with a header, or NDJSON (one object per line).

    Yields `(line, {column: text or None})` for each usable line and a list of `Reject` for each
    unusable one. Opening checks the file itself (exists, is a file, not empty, a usable header).
    CSV is decoded as UTF-8 (a BOM is skipped) with `surrogateescape`, so that a line that is not
    UTF-8 (a Latin-1 export, say) becomes a reject of that line instead of stopping the run.
    """

    def __init__(self, path: Path, layout: Layout, max_line_bytes: int) -> None:
        self.path = path
        self.layout = layout
        self.max_line_bytes = max_line_bytes
        try:
            if path.is_dir():
                raise self._unreadable("it is a directory")
            self._raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise self._unreadable(exc.strerror or type(exc).__name__) from None
        try:
            self.size = os.fstat(self._raw.fileno()).st_size
            self.format = self._detect_format()
            self._rows = self._csv_rows() if self.format == "csv" else self._ndjson_rows()
        except BaseException:
            self._raw.close()
            raise

    def _unreadable(self, why: str) -> InvalidInput:
        return InvalidInput(
            f"Cannot read the {self.layout.what} {self.path}: {why}.", code=self.layout.code
        )

    def _detect_format(self) -> str:
        suffix = self.path.suffix.lower()
        if suffix in (".ndjson", ".jsonl"):
            return "ndjson"
        if suffix == ".csv":
            return "csv"
        head = self._raw.read(4096)
        self._raw.seek(0)
        return "ndjson" if head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{" else "csv"

    def position(self) -> int:
        """Bytes read so far (for the progress bar)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[RawRow | list[Reject]]:
        return self._rows

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _csv_rows(self) -> Iterator[RawRow | list[Reject]]:
        text = io.TextIOWrapper(
            self._raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        reader = csv.reader(text)
        columns = self.layout.columns
        try:
            header = next(reader)
        except StopIteration:
            raise self._unreadable(
                f"the file is empty (a CSV {self.layout.what} starts with a header line)"
            ) from None
        except csv.Error as exc:
            raise self._unreadable(f"the header line is not valid CSV ({exc})") from None
        if not _is_utf8(header):
            raise self._unreadable("the header line is not UTF-8 text")
        names = [h.strip().lower() for h in header]
        missing = [c for c in columns if c not in names]
        if missing:
            raise self._unreadable(
                f"the header lacks the column(s) {', '.join(missing)} "
                f"(expected: {','.join(columns)})"
            )
        doubled = sorted({n for n in names if names.count(n) > 1 and n in columns})
        if doubled:
            raise self._unreadable(f"the header names {', '.join(doubled)} twice")
        index = [(c, names.index(c)) for c in columns]
        return _csv_body(reader, index, names)

    def _ndjson_rows(self) -> Iterator[RawRow | list[Reject]]:
        if self.size == 0:
            raise self._unreadable("the file is empty")
        return self._ndjson_body()

    def _ndjson_body(self) -> Iterator[RawRow | list[Reject]]:
        number = 0
        limit = self.max_line_bytes
        while True:
            raw = self._raw.readline(limit)
            if not raw:
                return
            number += 1
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if len(raw) == limit and not raw.endswith(b"\n"):
                while (more := self._raw.readline(limit)) and not more.endswith(b"\n"):
                    pass  # skip the rest of an overlong line without holding it
                yield [Reject(number, LINE_FIELD, f"longer than {limit} bytes")]
                continue
            if raw.strip():
                yield self._ndjson_line(number, raw)

    def _ndjson_line(self, number: int, raw: bytes) -> RawRow | list[Reject]:
        layout = self.layout
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return [Reject(number, LINE_FIELD, "not UTF-8")]
        try:
            if layout.numbers_as_text:
                data = json.loads(text, parse_float=str, parse_int=str)
            else:
                data = json.loads(text)
        except ValueError:
            return [Reject(number, LINE_FIELD, "not valid JSON (truncated line?)")]
        if not isinstance(data, dict):
            return [Reject(number, LINE_FIELD, "not a JSON object")]
        values: dict[str, str | None] = {}
        problems: list[Reject] = []
        for name in layout.columns:
            if name in layout.required and name not in data:
                problems.append(Reject(number, name, "missing"))
                continue
            try:
                values[name] = layout.ndjson_value(data.get(name))
            except TypeError:
                problems.append(Reject(number, name, layout.type_reason))
        return problems or (number, values)


def _csv_body(
    reader: Any, index: list[tuple[str, int]], names: list[str]
) -> Iterator[RawRow | list[Reject]]:
    """The data lines of a CSV file; `line` is the physical line where the record starts."""
    width = len(names)
    previous = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # its messages never quote the data
            line, previous = previous + 1, reader.line_num
            yield [
                Reject(
                    line,
                    LINE_FIELD,
                    f"unreadable CSV, lines {line}-{previous} ({exc}; an unbalanced quote?)",
                )
            ]
            continue
        line, previous = previous + 1, reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if not _is_utf8(fields):
            yield [Reject(line, LINE_FIELD, "not UTF-8")]
            continue
        if len(fields) != width:
            reason = f"the line has {len(fields)} fields, the header {width}"
            if previous > line:
                reason += f" (the record spans lines {line}-{previous}: an unbalanced quote?)"
            elif len(fields) < width:
                reason += " (truncated line?)"
            name = names[len(fields)] if len(fields) < width else LINE_FIELD
            yield [Reject(line, name, reason)]
            continue
        yield line, {name: fields[i] for name, i in index}


def _is_utf8(fields: list[str]) -> bool:
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rejects_path(path: Path) -> Path:
    """Where the rejects of `path` go: `FILE.rejects.csv` next to it."""
    return path.with_name(path.name + ".rejects.csv")


class RejectsWriter:
    """`FILE.rejects.csv` (line, field, reason), written aside and renamed at the end; a stale one
    from an earlier run is removed when this run has no rejects."""

    def __init__(self, source: Path) -> None:
        self.path = rejects_path(source)
        self._temp = self.path.with_name(self.path.name + ".part")
        try:
            self._handle = self._temp.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(
                f"Cannot write the rejects file {self.path}: {exc.strerror}.",
                code="rejects-unwritable",
            ) from None
        self._writer = csv.writer(self._handle)
        self._writer.writerow(("line", "field", "reason"))
        self.lines = 0

    def write(self, problems: Sequence[Reject]) -> None:
        self._writer.writerows((p.line, p.field, p.reason) for p in problems)
        self.lines += len(problems)

    def finish(self) -> Path | None:
        self._handle.close()
        if self.lines:
            os.replace(self._temp, self.path)
            return self.path
        self._temp.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        return None

    def abort(self) -> None:
        self._handle.close()
        if self.lines:
            os.replace(self._temp, self.path)  # what was found so far is still worth reading
        else:
            self._temp.unlink(missing_ok=True)
