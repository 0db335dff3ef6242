"""Bulk writes for imports and demo data: COPY on PostgreSQL, executemany on SQLite.

Ids are allocated up front (`allocate_ids`) so that child rows (membership events) can be written in the same
bulk pass without a round trip per row. Everything runs on the session's connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def insert_rows(table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write rows (tuples in `columns` order) into `table`; returns how many. Enum members are stored by value."""
    count = 0
    if is_postgres():
        conn = db.session.connection().connection.driver_connection
        cols = ", ".join(f'"{c}"' for c in columns)
        with conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([_plain(v) for v in row])
                count += 1
        return count
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
