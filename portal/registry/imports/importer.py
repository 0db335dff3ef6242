"""The import itself: read, type and check, drop duplicates, write chunk by chunk, report (`import_file`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from functools import partial
from operator import itemgetter

from portal import audit
from portal.bulk import BackgroundCopy, allocate_ids, is_postgres, responsive_threads
from portal.clock import today
from portal.i18n import N_
from portal.registry.imports import limits
from portal.registry.imports.mapping import missing_fields, resolve_mapping
from portal.registry.imports.model import MemberImportError
from portal.registry.imports.reading import open_sheet
from portal.registry.imports.report import IN_OTHER_ORG, ImportResult, _duplicate_reason
from portal.registry.imports.rows import RowReader, Staged, _is_blank, reason_text
from portal.registry.imports.writing import _chunk_payload, _write, _write_chunk, registered_keys
from portal.registry.models import Member, Organisation, OrgLevel

CHUNK_ROWS = 5000  # rows typed, checked and written per pass; progress is reported after each


def _chunks(rows: Iterator[tuple[int, Sequence]], size: int) -> Iterator[list[tuple[int, Sequence]]]:
    chunk: list[tuple[int, Sequence]] = []
    for item in rows:
        if _is_blank(item[1]):
            continue
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_file(org: Organisation, source, filename: str, actor, *, dry_run: bool = False,
                mapping: dict | None = None, progress: Callable[[int, int | None], None] | None = None,
                audit_details: dict | None = None) -> ImportResult:
    """Import a member list into a primary organisation (or only check it, `dry_run`); the caller commits.

    `source` is a path, bytes or a binary file. `mapping` corrects the auto-detected columns (see `resolve_mapping`).
    Permission checks are the caller's (views and CLI). One audit entry records the counts.
    """
    if org.level != OrgLevel.PRIMARY:
        raise MemberImportError(N_("Списки загружают в первичную организацию: членов Профсоюза ставят на учёт там. "
                                "Откройте нужную первичную организацию и загрузите список в неё."))
    sheet = open_sheet(source, filename)
    writer = None
    cleanup = ExitStack()
    try:
        columns = resolve_mapping(sheet.headers, mapping)
        result = ImportResult(mapping=columns, headers=sheet.headers, header_row=sheet.header_row,
                              file_kind=sheet.kind, dry_run=dry_run, missing=missing_fields(columns))
        reader = RowReader(columns, today())
        stage, read = reader.stage, reader.read
        seen: dict[str, int] = {}  # person_key -> row number of its first valid occurrence in the file
        actor_id = getattr(actor, "id", None)
        # On PostgreSQL a real run writes each chunk in the background (`_write_chunk`) while the next chunk is
        # read and checked; a chunk is settled (duplicates reported, count added, progress called) before the
        # session is used again. Elsewhere, and in a dry run: look the keys up, then write.
        writer = BackgroundCopy() if not dry_run and is_postgres() else None
        if writer is not None:
            cleanup.enter_context(responsive_threads())
        in_flight: dict[str, tuple[int, str]] = {}  # person_key -> (row number, name) of the chunk being written
        written_through = 0  # result.rows once the chunk being written is written

        def settle() -> None:
            if writer is None or not writer.busy:
                return
            inserted, refused_keys = writer.wait()
            result.imported += inserted
            if refused_keys:
                found = registered_keys(refused_keys)
                for key in refused_keys:
                    number, name = in_flight[key]
                    result.duplicate_rows.append((number, name, _duplicate_reason(found.get(key), org.id)))
            in_flight.clear()
            if progress:
                progress(written_through, sheet.total_estimate)

        for chunk in _chunks(sheet.rows, CHUNK_ROWS):
            if result.rows + len(chunk) > limits.MAX_ROWS:  # the dry run says so before a real run writes anything
                raise MemberImportError(limits.TOO_MANY_ROWS, limit=limits.MAX_ROWS)
            candidates: list[tuple[str, int, Staged]] = []
            for number, cells in chunk:
                row = stage(cells)
                if row is None:
                    data, name, errors = read(cells)
                    if errors:
                        result.refused.append((number, name, reason_text(errors)))
                        continue
                    row = reader.staged(data)
                key = row.person_key
                first = seen.get(key)
                if first is not None:
                    result.duplicate_rows.append((number, row.name, f"повтор строки {first} (те же ФИО и дата "
                                                                    "рождения)"))
                    continue
                seen[key] = number
                candidates.append((key, number, row))
            settle()
            result.rows += len(chunk)
            # In person-key order (the surname first): neighbouring entries of the name and key indexes are
            # written together, and a chair's list, sorted by name, reads neighbouring heap pages.
            candidates.sort(key=itemgetter(0))
            if writer is not None:
                if candidates:
                    in_flight.update((key, (number, row.name)) for key, number, row in candidates)
                    writer.start(partial(_write_chunk, _chunk_payload(candidates, org.id, actor_id), org.id,
                                         actor_id))
                    written_through = result.rows
                    continue
            else:
                existing = registered_keys(c[0] for c in candidates)
                fresh = []
                for key, number, row in candidates:
                    hit = existing.get(key)
                    if hit is None:
                        fresh.append(row)
                    else:
                        result.duplicate_rows.append((number, row.name, _duplicate_reason(hit, org.id)))
                if not dry_run and fresh:
                    result.imported += _write(org.id, allocate_ids(Member.__table__, len(fresh)), fresh, actor_id)
            if progress:
                progress(result.rows, sheet.total_estimate)
        settle()
        if not dry_run and result.imported:
            # The bulk writer bypasses the ORM (and so the counters' listener): recount this organisation once.
            from portal.stats.counts import refresh_orgs

            refresh_orgs([org.id])
        result.duplicates = len(result.duplicate_rows)
        result.refused.sort()
        result.duplicate_rows.sort()
    finally:
        if writer is not None and writer.busy:  # failing while a chunk is being written: let it end first
            try:
                writer.wait()
            except Exception:  # noqa: BLE001, S110 (the error already propagating is the one to report)
                pass
        cleanup.close()
        sheet.close()
    elsewhere = sum(1 for r in result.duplicate_rows if r[2] == IN_OTHER_ORG)
    audit.record("member_import_check" if dry_run else "member_import", org, actor=actor,
                 filename=filename[:255], file_kind=result.file_kind, rows=result.rows, imported=result.imported,
                 duplicates=result.duplicates, in_other_orgs=elsewhere, refused=len(result.refused),
                 **(audit_details or {}))
    return result
