"""Errors Carnet raises on purpose.

Each carries a stable machine code and an HTTP status so that the three front doors (FHIR, JSON API,
portal) and the CLI answer the same way. Messages must never contain health data: they are shown to
callers and written to logs.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)
_KEEP_WRITTEN = "carnet_keep_written"


class CarnetError(Exception):
    """Base of every deliberate error: a clear message, a stable code, no health data."""

    code = "error"
    status_code = 400
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class ConfigurationError(CarnetError):
    code = "invalid-configuration"
    status_code = 500
    exit_code = 2


class DatabaseUnavailable(CarnetError):
    code = "database-unavailable"
    status_code = 503
    exit_code = 2


class InvalidInput(CarnetError):
    code = "invalid-input"
    status_code = 400


class NotFound(CarnetError):
    code = "not-found"
    status_code = 404


class Conflict(CarnetError):
    code = "conflict"
    status_code = 409


class Unauthenticated(CarnetError):
    code = "unauthenticated"
    status_code = 401


class Forbidden(CarnetError):
    code = "forbidden"
    status_code = 403


class VaultError(CarnetError):
    """The vault cannot open what it was asked to open (wrong key, tampering, shredded key)."""

    code = "vault-error"
    status_code = 500
    exit_code = 2


class TooManyRequests(CarnetError):
    """A rate is exceeded: HTTP 429 with Retry-After (`retry_after` seconds)."""

    code = "too-many-requests"
    status_code = 429

    def __init__(
        self, message: str, *, retry_after: int, code: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after = retry_after


def kept(error: E) -> E:
    """`error`, marked so that the edge's unit of work commits what was written before it, then
    answers with it: the bookkeeping of a refusal (ACC-8: refused accesses are recorded; throttles
    count failures). Any unmarked error rolls the whole unit back (never a half-written record)."""
    setattr(error, _KEEP_WRITTEN, True)
    return error


def keeps_written(error: BaseException) -> bool:
    """Whether `error` was marked by `kept`."""
    return bool(getattr(error, _KEEP_WRITTEN, False))
