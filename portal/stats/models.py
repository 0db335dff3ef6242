"""Statistics tables: per-organisation counters kept current with the registry, and frozen report snapshots.

`StatCount` is a long table, one row per (organisation, key): the number of *active* members of that organisation
with that property, e.g. ``members``, ``category:working``, ``gender:F``, ``consent:signed``, ``card:issued``.
It is maintained in the same transaction as the registry change (portal.stats.counts); roll-ups are never stored,
they are summed over the materialised path at query time (a few set-based queries for a whole subtree).

A frozen report (`StatSnapshot`) stores its figures as rows (`StatSnapshotValue`: organisation, key, number):
later registry edits never change it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db


class StatCount(db.Model):
    """How many active members of one organisation have one property (``key``); `changed_at` is the last change."""

    __tablename__ = "stat_counts"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<StatCount {self.org_id} {self.key}={self.n}>"


class StatMeta(db.Model):
    """State of the kept counters that is not per organisation: ``ages_as_of`` (the date the kept ``age:<band>``
    counters are exact for, ISO) and ``age_bands`` (the band boundaries they were counted with, e.g. ``35,50,60``).
    The daily job (portal.stats.jobs) advances ``ages_as_of``; every writer of counters reads the row FOR SHARE, so
    a member written concurrently with the job is counted in the band of the date the job leaves behind."""

    __tablename__ = "stat_meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class MemberStatChange(db.Model):
    """A counted property of a member changed (category, education, dues form, consent, card): its value before
    and the day of the change, written by the counters' listener in the same transaction. A report for a past
    date takes, for each such property, the value before the earliest change made on or after that date, and the
    current value when there is none — the registry as it stood. Gender and birth date are corrections of a typing
    error, not events: a past report takes them as corrected. No foreign key: the history of a member whose row is
    removed is harmless (no personal data) and must not block the removal."""

    __tablename__ = "member_stat_changes"
    __table_args__ = (Index("ix_member_stat_changes_date", "on_date", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer)
    on_date: Mapped[date] = mapped_column(Date)
    attr: Mapped[str] = mapped_column(String(24))
    old_value: Mapped[str | None] = mapped_column(String(24))


class StatSnapshot(db.Model):
    """A statistical report frozen on a date for an organisation's subtree: who froze it and when."""

    __tablename__ = "stat_snapshots"
    __table_args__ = (Index("ix_stat_snapshots_org", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    on_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_login: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    values: Mapped[list[StatSnapshotValue]] = relationship(back_populates="snapshot", order_by="StatSnapshotValue.id")

    def __repr__(self) -> str:
        return f"<StatSnapshot {self.id} org={self.org_id} {self.on_date}>"


class StatSnapshotOrg(db.Model):
    """An organisation as it stood in a frozen report: name, level and path are copied so the report reads the
    same after renames and moves."""

    __tablename__ = "stat_snapshot_orgs"
    __table_args__ = (Index("ix_stat_snapshot_orgs_snapshot", "snapshot_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("stat_snapshots.id"))
    org_id: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(24))
    path: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(500))


class StatSnapshotValue(db.Model):
    """One figure of a frozen report: an organisation of the subtree, key, number (rolled up over its subtree)."""

    __tablename__ = "stat_snapshot_values"
    __table_args__ = (Index("ix_stat_snapshot_values_snapshot", "snapshot_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("stat_snapshots.id"))
    org_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(48))
    n: Mapped[int] = mapped_column(Integer)

    snapshot: Mapped[StatSnapshot] = relationship(back_populates="values")
