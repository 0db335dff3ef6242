"""Runs of scheduled jobs: one row per (job, slot), so a slot is claimed once and catch-up knows what ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class JobRun(db.Model):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "slot", name="uq_job_runs_job_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    slot: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    output: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<JobRun {self.job} {self.slot} {self.status}>"
