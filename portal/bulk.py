"""Bulk writes for imports and demo data: COPY on PostgreSQL, executemany on SQLite.

Ids are allocated up front (`allocate_ids`) so that child rows (membership events) can be written in the same
bulk pass without a round trip per row. Everything runs on the session's connection, inside its transaction.
`BackgroundCopy` runs a COPY on that connection in a thread, so the server works through one chunk while the
caller reads the next one (the machine has two cores: one for Python, one for PostgreSQL).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager

from sqlalchemy import Table, func, insert, select, text

from portal.extensions import db


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def allocate_ids(table: Table, count: int) -> list[int]:
    """Reserve `count` primary keys for `table`: from its sequence on PostgreSQL, after max(id) on SQLite."""
    if count <= 0:
        return []
    if is_postgres():
        rows = db.session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count}).scalars().all()
        return list(rows)
    start = (db.session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
    return list(range(start, start + count))


def _plain(value):
    return getattr(value, "value", value)


def driver_connection():
    """The psycopg connection under the session's current transaction (PostgreSQL only)."""
    return db.session.connection().connection.driver_connection


def copy_rows(conn, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY rows of plain values (str, int, date, None) into `table` on a psycopg connection; returns how many.

    Touches no session, so it may run in another thread while the caller's thread leaves the connection alone.
    """
    count = 0
    cols = ", ".join(f'"{c}"' for c in columns)
    with conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
        write = copy.write_row
        for row in rows:
            write(row)
            count += 1
    return count


def insert_rows(table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write rows (tuples in `columns` order) into `table`; returns how many. Enum members are stored by value."""
    count = 0
    if is_postgres():
        return copy_rows(driver_connection(), table, columns, ([_plain(v) for v in row] for row in rows))
    batch: list[dict] = []
    stmt = insert(table)
    for row in rows:
        batch.append({c: _plain(v) for c, v in zip(columns, row, strict=True)})
        count += 1
        if len(batch) >= 5000:
            db.session.execute(stmt, batch)
            batch = []
    if batch:
        db.session.execute(stmt, batch)
    return count


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def responsive_threads(interval: float = 0.0002):
    """Let a waiting thread have the interpreter back within `interval` s instead of the default 5 ms.

    While the reading thread types rows (pure Python), the `BackgroundCopy` thread wakes each time the socket can
    take more COPY data — some forty times per 5 000-row chunk, psycopg sending 128 kB at a time — and each time
    waited up to the switch interval for the lock while the server sat idle: the same writes took 12.5–17 s per
    100 000 rows beside a busy thread and 8.6–11 s with a 0.2 ms interval (bench/RESULTS.md). Nested and
    concurrent uses share one setting; the last to leave restores the interval found by the first.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, _switch_saved))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class BackgroundCopy:
    """One bulk write at a time on the session's PostgreSQL connection, in a thread; `wait` returns its result.

    The caller must not use the session between `start` and `wait` (the connection is busy); `wait` re-raises
    whatever the write raised, and must be called before the transaction ends, also when the caller fails.
    """

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._result = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, work: Callable[[object], object]) -> None:
        """Run work(psycopg connection) in the background, on the connection of the session's transaction now
        (taken afresh each time: after a commit the session may hold another connection of the pool)."""
        assert self._thread is None, "one bulk write at a time"
        conn = driver_connection()

        def run():
            try:
                self._result = work(conn)
            except BaseException as e:  # noqa: BLE001 (handed to the caller's thread by wait())
                self._error = e

        self._result, self._error = None, None
        self._thread = threading.Thread(target=run, name="bulk-copy", daemon=True)
        self._thread.start()

    def wait(self):
        """The finished write's result (None if nothing was started); its exception if it failed."""
        if self._thread is None:
            return None
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result
