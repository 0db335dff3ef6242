"""Bulk import of members from spreadsheets (1C CSV exports and chairs' XLSX lists).

The model is defined here; the parsing, validation and bulk-insert pipeline follows below it.
"""

from __future__ import annotations


from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.registry.models import Organisation, TitledEnum, _enum


class ImportStatus(TitledEnum):
    UPLOADED = "uploaded", "файл загружен"
    CHECKED = "checked", "проверен (пробный запуск)"
    RUNNING = "running", "идёт загрузка"
    DONE = "done", "загружен"
    FAILED = "failed", "ошибка"


class ImportJob(db.Model):
    """One uploaded member list: its mapping, the dry-run report and the outcome of the real run."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_org", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    stored_name: Mapped[str] = mapped_column(String(255), default="")
    file_kind: Mapped[str] = mapped_column(String(8), default="")
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    mapping: Mapped[str] = mapped_column(Text, default="")  # JSON: field -> column index
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, "import_status"), default=ImportStatus.UPLOADED)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text, default="")  # JSON: per-row outcomes
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organisation] = relationship()

    def __repr__(self) -> str:
        return f"<ImportJob {self.id} org={self.org_id} {self.status.value}>"



