"""An import's job row (the web flow's upload, dry run and run) and the error a whole file is refused with."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import now
from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Organisation, TitledEnum, _enum


class ImportStatus(TitledEnum):
    UPLOADED = "uploaded", N_("файл загружен")
    CHECKED = "checked", N_("проверен (пробный запуск)")
    RUNNING = "running", N_("идёт загрузка")
    DONE = "done", N_("загружен")
    FAILED = "failed", N_("ошибка")


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

    # While running, `report` holds {"running": "check" | "import", "heartbeat": iso time}; afterwards the outcome.
    @property
    def report_data(self) -> dict:
        try:
            data = json.loads(self.report) if self.report else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def mapping_data(self) -> dict[str, int]:
        from portal.registry.imports.mapping import FIELDS  # the mapping module raises this module's error

        try:
            data = json.loads(self.mapping) if self.mapping else {}
        except ValueError:
            return {}
        return {k: int(v) for k, v in data.items() if k in FIELDS and isinstance(v, int)} if isinstance(data, dict) \
            else {}

    @property
    def running_phase(self) -> str | None:
        """«check» or «import» while the job runs, None otherwise."""
        if self.status != ImportStatus.RUNNING:
            return None
        return self.report_data.get("running", "import")

    def seems_stalled(self, minutes: int = 10) -> bool:
        """A running job whose worker has not reported for a while (the server restarted mid-run)."""
        if self.status != ImportStatus.RUNNING:
            return False
        beat = self.report_data.get("heartbeat")
        try:
            last = datetime.fromisoformat(beat) if beat else None
        except ValueError:
            last = None
        return last is None or now() - last > timedelta(minutes=minutes)


class MemberImportError(Exception):
    """The file or the request can't be imported at all; the message is for the chair (Russian, a msgid where fixed).

    A message with values (`%(limit)s`) keeps its msgid and values, so a page can show it in its language
    (`translated()`); `message` is the Russian text with the values in.
    """

    def __init__(self, message: str, **values):
        self.msgid = message
        self.values = values
        if values:
            message = message % {k: _number(v) for k, v in values.items()}
        super().__init__(message)
        self.message = message

    def translated(self) -> str:
        """The message in the interface language (gettext of the msgid, values filled in)."""
        from flask_babel import gettext

        if not self.values:
            return gettext(self.msgid)
        return gettext(self.msgid, **{k: _number(v) for k, v in self.values.items()})


def _number(value):
    """Thousands apart with a space, as the pages print counts (200 000)."""
    return f"{value:,}".replace(",", "\u00a0") if isinstance(value, int) else value
