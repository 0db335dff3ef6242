"""Retention of the files the portal keeps, and destruction after a consent is withdrawn (152-FZ art. 21).

After a withdrawal the portal stops transferring at once (the consent workflow), and this daily job destroys what
the withdrawn member left in the files the portal keeps of its transfers to third parties — the daily PROFCARDS
files (name, birth date, phone, email, organisation, card number, consent date) and the card producer's manifests
(name, card number, organisation) — then writes one `DataDestruction` per member: which categories of data, which
files and how many rows, the checksums before and after, when, by which job. Central administrators read them at
/consent/destructions. The law allows 30 days; the portal does it in the next daily run (03:00 Moscow), so a
withdrawal recorded today is destroyed in the kept files tonight — or earlier, when a central administrator
downloads one of those files before then (`strip_before_download`): nothing of the member leaves the portal after
the withdrawal.

Files and how long each is kept (also in the README):

| file (area under UPLOAD_DIR) | holds | kept |
|---|---|---|
| PROFCARDS transfer CSV + JSON (`exports/bonus`) | name, birth date, phone, email, organisation, card № | rows of a member who withdrew: stripped the next night; whole files: deleted after `BONUS_EXPORT_RETENTION_DAYS` (90) — enough to resend a lost file or settle a dispute; the row in `bonus_exports` (counts, checksum) stays |
| card manifests XLSX + CSV (`manifests`) | name, card №, region, organisation | rows of a member who withdrew: stripped the next night; the rest as long as the batch's cards are in use (the record of what was ordered) |
| consent scans (`consent-scans`) | the signed form | as long as the consent is in force: it proves that processing was lawful; after a withdrawal `CONSENT_SCAN_RETENTION_YEARS` (3, the limitation period), then deleted with a destruction record |
| batch-printed consent PDFs (`consent-batches`) | the forms of many members | `CONSENT_BATCH_RETENTION_DAYS` (30): a batch is printed and signed within days; the row (who, when, which members) stays |
| aid attachments (`aid`) | voucher stubs, proof of treatment | with the petition (accounting documents: 5 years, 402-FZ art. 29) |
| import uploads (`imports`) | the chair's list | deleted when the import finishes or is cancelled; an upload left unfinished: deleted after `IMPORT_UPLOAD_RETENTION_DAYS` (7) |
| generated documents (form No. 1, member card copy, consent form, register XLSX) | — | never stored: generated on each download |

Checksums and row counts stay true after stripping: a rewritten transfer file gets its new SHA-256 in
`bonus_exports.sha256`, `rows_added` counts the «add» rows still in it and `rows_stripped` those removed (their sum
is what was transferred); the checksum it had before is in the destruction record. A manifest keeps its rows'
numbers (a gap shows a removed row); `production_batches.cards` stays the number of cards allocated and
`rows_stripped` says how many rows left the files. Files are rewritten atomically (a temporary file, then
rename) before the records commit; if the commit fails the files are already stripped and the next run finds
nothing more to strip and records that.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal import audit
from portal.clock import now
from portal.extensions import db
from portal.files import remove_stored, storage_dir, store_bytes
from portal.i18n import N_
from portal.jobs.schedule import Daily, register

JOB_NAME = "pd_retention"
DOWNLOAD_JOB_NAME = "pd_retention (перед скачиванием)"
BONUS_CATEGORIES = "фамилия, имя, отчество; дата рождения; телефон; адрес электронной почты; региональная и " \
                   "первичная организация; номер карты; дата согласия"
MANIFEST_CATEGORIES = "фамилия, имя, отчество; номер карты; региональная и первичная организация"
DEFAULT_RETENTION_DAYS = {"BONUS_EXPORT_RETENTION_DAYS": 90, "CONSENT_BATCH_RETENTION_DAYS": 30,
                          "IMPORT_UPLOAD_RETENTION_DAYS": 7}


def _days(key: str) -> int:
    return int(current_app.config.get(key) or DEFAULT_RETENTION_DAYS[key])


def _utc(value):
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(area: str, name: str) -> bytes | None:
    try:
        path = storage_dir(area) / name
        return path.read_bytes() if name and path.is_file() else None
    except OSError:
        return None


# ---- stripping withdrawn members' rows --------------------------------------------------------------------------------


def _strip_bonus_export(export, member_ids: set[int], found: dict[int, list], moment) -> list:
    """Remove the «add» rows of these members from one transfer (CSV and JSON); note what went per member."""
    from portal.consent.operations import EXPORT_AREA, EXPORT_COLUMNS

    data = _read(EXPORT_AREA, export.csv_name)
    if data is None:
        return []
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter=";"))
    gone = [r for r in rows if r.get("action") == "add" and r.get("member_id", "").isdigit()
            and int(r["member_id"]) in member_ids]
    if not member_ids or not gone:
        return []
    kept = [r for r in rows if r not in gone]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    new_csv = buf.getvalue().encode("utf-8")
    writes = [(EXPORT_AREA, export.csv_name, new_csv)]
    raw_json = _read(EXPORT_AREA, export.json_name)
    if raw_json is not None:
        doc = json.loads(raw_json.decode("utf-8"))
        doc["rows"] = [r for r in doc.get("rows", []) if not (
            r.get("action") == "add" and int(r.get("member_id") or 0) in member_ids)]
        doc["rows_stripped"] = export.rows_stripped + len(gone)
        doc["stripped_at"] = moment.isoformat()
        writes.append((EXPORT_AREA, export.json_name, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")))
    before = export.sha256 or _sha(data)
    export.sha256 = _sha(new_csv)
    export.rows_added = sum(r["action"] == "add" for r in kept)
    export.rows_stripped += len(gone)
    export.stripped_at = moment
    for r in gone:
        found.setdefault(int(r["member_id"]), []).append({
            "area": EXPORT_AREA, "files": [export.csv_name, export.json_name], "rows": 1, "export_id": export.id,
            "sha256_before": before, "sha256_after": export.sha256, "categories": BONUS_CATEGORIES})
    return writes


def _strip_manifest(batch, numbers: dict[str, int], found: dict[int, list], moment) -> list:
    """Remove the rows of these cards (number → member) from one batch's manifests (XLSX and CSV)."""
    from openpyxl import Workbook, load_workbook

    from portal.cards.operations import MANIFEST_AREA

    raw_csv = _read(MANIFEST_AREA, batch.manifest_csv)
    raw_xlsx = _read(MANIFEST_AREA, batch.manifest_xlsx)
    writes, gone_members = [], []
    if raw_csv is not None:
        rows = list(csv.reader(io.StringIO(raw_csv.decode("utf-8-sig")), delimiter=";"))
        header, body = rows[:1], rows[1:]
        kept = [r for r in body if len(r) < 2 or r[1] not in numbers]
        gone_members += [numbers[r[1]] for r in body if len(r) >= 2 and r[1] in numbers]
        if len(kept) != len(body):
            buf = io.StringIO()
            csv.writer(buf, delimiter=";", lineterminator="\n").writerows(header + kept)
            writes.append((MANIFEST_AREA, batch.manifest_csv, buf.getvalue().encode("utf-8-sig")))
    if raw_xlsx is not None:
        sheet = load_workbook(io.BytesIO(raw_xlsx), read_only=True).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        kept = [r for r in rows[1:] if len(r) < 2 or str(r[1] or "") not in numbers]
        if raw_csv is None:
            gone_members += [numbers[str(r[1])] for r in rows[1:] if len(r) >= 2 and str(r[1] or "") in numbers]
        if len(kept) != len(rows) - 1:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("Реестр карт")
            for r in rows[:1] + kept:
                ws.append(r)
            out = io.BytesIO()
            wb.save(out)
            writes.append((MANIFEST_AREA, batch.manifest_xlsx, out.getvalue()))
    if gone_members:
        batch.rows_stripped += len(gone_members)
        batch.stripped_at = moment
        for member_id in gone_members:
            found.setdefault(member_id, []).append({
                "area": MANIFEST_AREA, "files": [batch.manifest_xlsx, batch.manifest_csv], "rows": 1,
                "batch_id": batch.id, "categories": MANIFEST_CATEGORIES})
    return writes


def pending_withdrawals(limit: int = 2000):
    """Withdrawals not yet answered by a destruction record, oldest first."""
    from portal.consent.models import ConsentRecord, DataDestruction

    done = select(DataDestruction.withdrawal_id).where(DataDestruction.withdrawal_id.is_not(None))
    return list(db.session.scalars(select(ConsentRecord).where(ConsentRecord.kind == "withdrawn",
                                                               ConsentRecord.id.not_in(done))
                                   .order_by(ConsentRecord.id).limit(limit)))


def destroy_after_withdrawals(job: str = JOB_NAME) -> list:
    """Strip every member who withdrew (and has no destruction record for it yet) from the kept transfer files and
    manifests; one `DataDestruction` per withdrawal. Safe to run again: a member already stripped is not found."""
    from portal.cards.models import Card, ProductionBatch
    from portal.consent.models import BonusExport, DataDestruction

    withdrawals = pending_withdrawals()
    if not withdrawals:
        return []
    moment = now()
    # Only files written before the withdrawal: a member who signed a new consent since and was transferred again
    # (or got a new card) keeps those later rows, which the new consent covers.
    cutoff: dict[int, object] = {}
    for w in withdrawals:
        cutoff[w.member_id] = max(cutoff.get(w.member_id, _utc(w.created_at)), _utc(w.created_at))
    member_ids = set(cutoff)
    cards = db.session.execute(select(Card.number, Card.member_id).where(Card.member_id.in_(member_ids))).all()
    found: dict[int, list] = {}
    writes = []
    for export in db.session.scalars(select(BonusExport).where(BonusExport.purged_at.is_(None))
                                     .order_by(BonusExport.id)):
        written = _utc(export.run_at)
        writes += _strip_bonus_export(export, {m for m in member_ids if written <= cutoff[m]}, found, moment)
    if cards:
        for batch in db.session.scalars(select(ProductionBatch).order_by(ProductionBatch.id)):
            written = _utc(batch.processed_at)
            numbers = {n: m for n, m in cards if written <= cutoff[m]}
            if numbers:
                writes += _strip_manifest(batch, numbers, found, moment)
    records = []
    for w in withdrawals:
        places = found.pop(w.member_id, [])  # a member who withdrew twice: the first record lists the files
        files = _merge(places)
        categories = sorted({p["categories"] for p in places})
        rec = DataDestruction(
            member_id=w.member_id, withdrawal_id=w.id, job=job, destroyed_at=moment,
            reason=f"Отзыв согласия на обработку персональных данных от {w.on_date:%d.%m.%Y} (152-ФЗ, ст. 21)",
            categories="; ".join(categories) if categories else "в хранимых файлах передачи данных нет",
            files=json.dumps(files, ensure_ascii=False), rows_removed=sum(p["rows"] for p in places))
        db.session.add(rec)
        records.append(rec)
    db.session.flush()
    for rec in records:
        audit.record("pd_destroyed", object_type="data_destructions", object_id=rec.id, member_id=rec.member_id,
                     rows=rec.rows_removed)
    try:
        for area, name, data in writes:  # each file replaced atomically; the later write of a file wins
            store_bytes(area, name, data)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return records


def strip_before_download() -> None:
    """Before a kept transfer file or manifest is served, strip whoever withdrew since the last nightly run.

    Without this a manifest downloaded the morning after a withdrawal would still carry the member's name to the
    producer. If the nightly job (or another download) handles the same withdrawal at the same moment, the unique
    withdrawal id lets one of them record it; the other finds the rows already gone.
    """
    from sqlalchemy.exc import IntegrityError

    if not pending_withdrawals(limit=1):
        return
    try:
        destroy_after_withdrawals(job=DOWNLOAD_JOB_NAME)
    except IntegrityError:
        db.session.rollback()


def _merge(places: list[dict]) -> list[dict]:
    """One entry per file set (a member is in a transfer once, but keep it general)."""
    merged: dict[tuple, dict] = {}
    for p in places:
        key = tuple(p["files"])
        entry = merged.setdefault(key, {k: v for k, v in p.items() if k != "categories"} | {"rows": 0})
        entry["rows"] += p["rows"]
        if "sha256_after" in p:
            entry["sha256_after"] = p["sha256_after"]
    return list(merged.values())


# ---- files past their retention --------------------------------------------------------------------------------------


def purge_expired_files() -> dict[str, int]:
    """Delete transfer files, batch-printed consents and abandoned import uploads past their retention."""
    from portal.consent.models import BatchPrint, BonusExport
    from portal.consent.operations import BATCH_AREA, EXPORT_AREA

    moment = now()
    counts = {"bonus_exports": 0, "consent_batches": 0, "imports": 0, "consent_scans": 0}
    old = moment - timedelta(days=_days("BONUS_EXPORT_RETENTION_DAYS"))
    for export in db.session.scalars(select(BonusExport).where(BonusExport.purged_at.is_(None),
                                                               BonusExport.run_at < old)):
        remove_stored(EXPORT_AREA, export.csv_name)
        remove_stored(EXPORT_AREA, export.json_name)
        export.purged_at = moment
        counts["bonus_exports"] += 1
    old = moment - timedelta(days=_days("CONSENT_BATCH_RETENTION_DAYS"))
    for job in db.session.scalars(select(BatchPrint).where(BatchPrint.stored_name != "", BatchPrint.created_at < old)):
        remove_stored(BATCH_AREA, job.stored_name)
        job.stored_name = ""  # the row (who printed whose forms, when) stays; the download answers 410
        counts["consent_batches"] += 1
    counts["imports"] = _purge_abandoned_imports(moment - timedelta(days=_days("IMPORT_UPLOAD_RETENTION_DAYS")))
    counts["consent_scans"] = _purge_old_scans(moment)
    if any(counts.values()):
        audit.record("files_purged", object_type="job_runs", **counts)
    db.session.commit()
    return counts


def _purge_abandoned_imports(before) -> int:
    """Uploads whose import was never finished (uploaded, checked or failed) and is older than `before`."""
    from portal.registry.imports import ImportJob, ImportStatus, remove_job_file

    n = 0
    for job in db.session.scalars(select(ImportJob).where(
            ImportJob.stored_name != "", ImportJob.created_at < before,
            ImportJob.status.in_([ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED]))):
        remove_job_file(job, current_app.config)
        job.stored_name = ""
        n += 1
    return n


def _purge_old_scans(moment) -> int:
    """Scans of signed consents of members whose consent has stood withdrawn for CONSENT_SCAN_RETENTION_YEARS (3).

    The scan proves that processing before the withdrawal was lawful, so it outlives the withdrawal by the
    limitation period, then goes. Consent records are immutable, so the record keeps the scan's name; the file is
    deleted and a destruction record says so (once: a file already gone is not recorded again).
    """
    from portal.clock import add_years
    from portal.consent.models import ConsentRecord, DataDestruction
    from portal.consent.operations import SCAN_AREA
    from portal.registry.models import ConsentStatus, Member

    years = int(current_app.config.get("CONSENT_SCAN_RETENTION_YEARS") or 3)
    latest = (select(ConsentRecord.member_id, func.max(ConsentRecord.id).label("wid"))
              .where(ConsentRecord.kind == "withdrawn").group_by(ConsentRecord.member_id).subquery())
    rows = db.session.execute(
        select(ConsentRecord, latest.c.wid).join(latest, latest.c.member_id == ConsentRecord.member_id)
        .join(Member, Member.id == ConsentRecord.member_id)
        .where(Member.consent_status == ConsentStatus.WITHDRAWN, ConsentRecord.kind == "signed",
               ConsentRecord.scan_name != "", ConsentRecord.id < latest.c.wid)).all()
    n = 0
    for rec, withdrawal_id in rows:
        withdrawal = db.session.get(ConsentRecord, withdrawal_id)
        if add_years(withdrawal.on_date, years) > moment.date() or _read(SCAN_AREA, rec.scan_name) is None:
            continue
        remove_stored(SCAN_AREA, rec.scan_name)
        db.session.add(DataDestruction(
            member_id=rec.member_id, job=JOB_NAME, destroyed_at=moment, rows_removed=0,
            reason=f"Истёк срок хранения ({years} г.) скана согласия после его отзыва {withdrawal.on_date:%d.%m.%Y}",
            categories="скан подписанного согласия (фамилия, имя, отчество, подпись и иные данные формы)",
            files=json.dumps([{"area": SCAN_AREA, "files": [rec.scan_name], "rows": 0, "record_id": rec.id}])))
        n += 1
    return n


def daily_retention(slot) -> str:
    """The nightly run: destruction after withdrawals, then files past their retention."""
    records = destroy_after_withdrawals()
    counts = purge_expired_files()
    rows = sum(r.rows_removed for r in records)
    return (f"Отзывов согласия обработано: {len(records)}, строк удалено из файлов: {rows}. "
            f"Удалено по сроку хранения: выгрузок в ПРОФКАРДС {counts['bonus_exports']}, пакетов согласий "
            f"{counts['consent_batches']}, незавершённых загрузок списков {counts['imports']}, сканов согласий "
            f"{counts['consent_scans']}.")


register(JOB_NAME, Daily(hour=3, minute=0), daily_retention,
         title=N_("Уничтожение персональных данных после отзыва согласия и удаление файлов по сроку хранения"),
         catch_up="latest")
