"""Consent to personal-data processing (152-FZ): immutable records and the daily transfers to the bonus programme.

The consent's workflow state lives on the member (`Member.consent_status`, versioned by `consent_version`) so
that lists filter on it without a join; the legal trail is `ConsentRecord`, append-only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db

CONSENT_TEXT_VERSION = "2026-2"  # the wording of the printed form; a new wording gets a new version


class ConsentRecord(db.Model):
    """One legally relevant fact about a member's consent: printed, signed, withdrawn, transferred. Never updated."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(24))  # printed | signed | withdrawn | transferred | withdrawal_transferred
    on_date: Mapped[date] = mapped_column(Date)
    text_version: Mapped[str] = mapped_column(String(20), default=CONSENT_TEXT_VERSION)
    scan_name: Mapped[str] = mapped_column(String(255), default="")  # random stored name under UPLOAD_DIR
    scan_type: Mapped[str] = mapped_column(String(40), default="")
    export_id: Mapped[int | None] = mapped_column(ForeignKey("bonus_exports.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<ConsentRecord {self.id} member={self.member_id} {self.kind}>"


class BonusExport(db.Model):
    """One daily transfer to PROFCARDS: the delta file (CSV and JSON), its row count and checksum."""

    __tablename__ = "bonus_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rows_added: Mapped[int] = mapped_column(Integer, default=0)
    rows_withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    csv_name: Mapped[str] = mapped_column(String(255), default="")
    json_name: Mapped[str] = mapped_column(String(255), default="")
    # Always the checksum of the CSV as it is on disk now: rewritten when rows are stripped (the checksum the file
    # had before is kept in the destruction record). rows_added counts the «add» rows still in the file,
    # rows_stripped those destroyed since: their sum is what was transferred.
    sha256: Mapped[str] = mapped_column(String(64), default="")
    rows_stripped: Mapped[int] = mapped_column(Integer, default=0)
    stripped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # files deleted at the end of retention

    def __repr__(self) -> str:
        return f"<BonusExport {self.id} +{self.rows_added} -{self.rows_withdrawn}>"


class BatchPrint(db.Model):
    """A batch of consent forms printed as one PDF, generated in the background with visible progress."""

    __tablename__ = "batch_prints"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    member_ids: Mapped[str] = mapped_column(Text, default="")  # JSON list, in print order
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="running")  # running | done | failed
    stored_name: Mapped[str] = mapped_column(String(255), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org = relationship("Organisation")

    def __repr__(self) -> str:
        return f"<BatchPrint {self.id} {self.done}/{self.total} {self.status}>"


class DataDestruction(db.Model):
    """152-FZ art. 21: one member's personal data destroyed after their consent was withdrawn (kept 3 years).

    What (`categories`), where (`files`: JSON list of {area, name, rows, sha256_before, sha256_after}), why
    (`reason`, the withdrawal it answers), when and by which job. Written by `portal.jobs.retention`; read by
    central administrators at /consent/destructions. Never updated.
    """

    __tablename__ = "data_destructions"
    __table_args__ = (Index("ix_data_destructions_member", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    withdrawal_id: Mapped[int | None] = mapped_column(ForeignKey("consent_records.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[str] = mapped_column(Text, default="[]")
    rows_removed: Mapped[int] = mapped_column(Integer, default=0)
    job: Mapped[str] = mapped_column(String(60), default="")
    destroyed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<DataDestruction {self.id} member={self.member_id} rows={self.rows_removed}>"
