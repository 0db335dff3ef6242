"""Bulk import of members from spreadsheets (1C CSV exports and chairs' XLSX lists).

The import reads the file (CSV in UTF-8, UTF-16 or Windows-1251 with `;`, `,` or tab; or XLSX), finds the header row
below any title block, maps columns to card fields by their names (the chair may correct the mapping), types every
value and checks the row with `rules.check_member` — the web form's own rules and messages — then drops duplicates by
`person_key`, within the file and against the whole registry, and writes members with their «joined» events in bulk
(COPY on PostgreSQL). Decisions a chair would ask about:

* A person already in the registry is never imported again and nothing of theirs is changed: in this organisation
  the row is reported «уже состоит на учёте в этой организации»; in any other one «уже состоит на учёте в другой
  организации», without naming it (the chair's scope ends at their organisation; a transfer goes through the
  organisation above). So importing the same file twice imports nothing the second time.
* Within the file the first occurrence counts; a later row with the same key is reported as a repeat of it.
* A refused row's reason lists every problem of the row in card order, joined by «; », so the chair fixes the row
  once; «вступил раньше, чем родился» is left out when the birth date itself is wrong, since it follows from it.
* Name parts typed all in capitals or all in lower case («СМИРНОВА», «сергей») are stored with a capital first
  letter; mixed case is kept as typed.
* The «Место работы» column is informational: members go into the primary the chair imports into.
* `import_file` never commits. It calls `progress` after each chunk is written; the background job commits there,
  so a long import shows progress, and an interrupted one is simply run again (rows already written are skipped).

The package is split by stage: `reading` (the file: kind, decoding, XLSX, header row), `mapping` (card fields and
the columns that feed them), `rows` (typing and checking a row), `writing` (the session path and the PostgreSQL COPY
/ staging paths), `report` (counts and reasons), `importer` (`import_file`, tying the stages together chunk by
chunk) and `jobs` (the web flow's background run). `model` holds the job's table. The names below are the package's
public surface; the member export lives in portal/registry/exports.py.
"""

from portal.registry.imports.importer import CHUNK_ROWS, import_file
from portal.registry.imports.jobs import (
    claim_job,
    job_file,
    preview_file,
    read_job,
    remove_job_file,
    run_job,
    stored_preview,
    upload_dir,
)
from portal.registry.imports.mapping import (
    FIELDS,
    HEADER_ALIASES,
    REQUIRED,
    auto_mapping,
    check_mapping,
    match_header,
    missing_fields,
    resolve_mapping,
)
from portal.registry.imports.model import ImportJob, ImportStatus, MemberImportError
from portal.registry.imports.reading import Sheet, detect_kind, open_sheet, preview
from portal.registry.imports.report import IN_OTHER_ORG, IN_THIS_ORG, LEFT_THIS_ORG, REPORT_LIMIT, ImportResult
from portal.registry.imports.rows import ENUMS, RowReader, Staged, reason_text, split_full_name
from portal.registry.imports.writing import (
    EVENT_COPY_SQL,
    MEMBER_COPY_SQL,
    _chunk_payload,
    new_member_ids,
    registered_keys,
)

__all__ = [
    "CHUNK_ROWS", "ENUMS", "EVENT_COPY_SQL", "FIELDS", "HEADER_ALIASES", "IN_OTHER_ORG", "IN_THIS_ORG",
    "LEFT_THIS_ORG", "MEMBER_COPY_SQL", "REPORT_LIMIT", "REQUIRED", "ImportJob", "ImportResult", "ImportStatus",
    "MemberImportError", "RowReader", "Sheet", "Staged", "_chunk_payload", "auto_mapping", "check_mapping",
    "claim_job", "detect_kind", "import_file", "job_file", "match_header", "missing_fields", "new_member_ids",
    "open_sheet", "preview", "preview_file", "read_job", "reason_text", "registered_keys", "remove_job_file", "resolve_mapping", "run_job",
    "split_full_name", "stored_preview", "upload_dir",
]
