"""The report of an import or dry run: counts, refused and duplicate rows with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.i18n import N_
from portal.registry.models import MemberStatus

REPORT_LIMIT = 2000  # refused and duplicate rows kept in a job's stored report (the counts are always complete)


IN_THIS_ORG = N_("уже состоит на учёте в этой организации")
LEFT_THIS_ORG = (N_("уже есть в реестре этой организации (выбыл или исключён); повторное принятие оформляется "
                 "в карточке члена Профсоюза"))
IN_OTHER_ORG = N_("уже состоит на учёте в другой организации")


@dataclass
class ImportResult:
    """The outcome of one import (or dry run): counts and the refused and duplicate rows with reasons."""

    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    duplicate_rows: list[tuple[int, str, str]] = field(default_factory=list)
    mapping: dict[str, int] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)
    header_row: int = 0
    file_kind: str = ""
    dry_run: bool = False
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.rows

    @property
    def would_import(self) -> int:
        """Rows that pass every check: imported by a real run, importable after a dry run."""
        return self.rows - self.duplicates - len(self.refused)

    def to_report(self, limit: int = REPORT_LIMIT) -> dict:
        """A JSON-able summary for ImportJob.report (row lists capped at `limit`)."""
        return {
            "rows": self.rows, "imported": self.imported, "would_import": self.would_import,
            "duplicates": self.duplicates, "refused_count": len(self.refused), "dry_run": self.dry_run,
            "refused": [list(r) for r in self.refused[:limit]],
            "duplicate_rows": [list(r) for r in self.duplicate_rows[:limit]],
            "truncated": len(self.refused) > limit or len(self.duplicate_rows) > limit,
            "mapping": self.mapping, "headers": self.headers, "header_row": self.header_row,
            "file_kind": self.file_kind, "missing": self.missing,
        }


def _duplicate_reason(hit: tuple[int, MemberStatus] | None, org_id: int) -> str:
    """Why a person already in the registry is not imported: here (on the register or not) or elsewhere."""
    if hit is None:  # refused by the unique key, then gone by the time we looked (another import, a deletion)
        return IN_OTHER_ORG
    if hit[0] != org_id:
        return IN_OTHER_ORG
    return IN_THIS_ORG if hit[1] == MemberStatus.ACTIVE else LEFT_THIS_ORG
