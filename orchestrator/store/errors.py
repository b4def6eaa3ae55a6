"""The store's errors, and the one place where driver errors become them.

Callers above the store catch these, never ``psycopg`` exceptions, so the services and faces do
not depend on the driver and each kind of failure has one meaning (``Conflict`` is a 409,
``StoreUnavailable`` a 503, ...). The constraint name is kept because it tells *which* rule was
broken (e.g. ``idempotency_keys_pkey`` versus ``requests_pkey``).
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors


class StoreError(Exception):
    """A database operation failed; ``sqlstate`` and ``constraint`` say how, when known.

    The message is the server's primary message only: its DETAIL (kept in ``detail``) can quote
    row values, which must not reach logs or HTTP responses by default.
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        constraint: str | None = None,
        table: str | None = None,
        column: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.constraint = constraint
        self.table = table
        self.column = column
        self.detail = detail


class Conflict(StoreError):
    """A unique (or exclusion) constraint refused a row that already exists."""


class ReferenceMissing(StoreError):
    """A foreign key points at a row that does not exist (or is still referenced)."""


class ConstraintViolated(StoreError):
    """A CHECK or NOT NULL constraint refused a value."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or cannot serve now (connection lost, pool exhausted,
    shutdown, deadlock or serialization failure): the operation may succeed if tried again."""


_INTEGRITY: tuple[tuple[type[psycopg.Error], type[StoreError]], ...] = (
    (pg_errors.UniqueViolation, Conflict),
    (pg_errors.ExclusionViolation, Conflict),
    (pg_errors.ForeignKeyViolation, ReferenceMissing),
    (pg_errors.CheckViolation, ConstraintViolated),
    (pg_errors.NotNullViolation, ConstraintViolated),
)


def translate(exc: psycopg.Error) -> StoreError:
    """Map a driver error to the store's error type; the caller raises it ``from exc``."""
    kind: type[StoreError] = StoreError
    for driver_type, store_type in _INTEGRITY:
        if isinstance(exc, driver_type):
            kind = store_type
            break
    else:
        # OperationalError covers lost connections, PoolTimeout/PoolClosed, admin shutdown and
        # transaction rollbacks (deadlock, serialization); InterfaceError a broken client state.
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            kind = StoreUnavailable
    diag = exc.diag
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    return kind(
        message,
        sqlstate=exc.sqlstate,
        constraint=diag.constraint_name,
        table=diag.table_name,
        column=diag.column_name,
        detail=diag.message_detail,
    )
