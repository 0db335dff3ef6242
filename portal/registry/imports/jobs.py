"""Jobs: the web flow's background run of a dry run or an import, its stored file and progress."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from portal.clock import now
from portal.extensions import db
from portal.i18n import N_
from portal.registry.imports.importer import import_file
from portal.registry.imports.model import ImportJob, ImportStatus, MemberImportError
from portal.registry.imports.reading import preview

# ---- jobs (the web flow's background run) ----------------------------------------------------------------------------


def upload_dir(app_config) -> Path:
    return Path(app_config["UPLOAD_DIR"]) / "imports"


_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx)$")


def job_file(job: ImportJob, app_config) -> Path:
    """Where a job's uploaded file lies; the stored name is ours (random), checked again before use."""
    if not _STORED_NAME.match(job.stored_name or ""):
        raise MemberImportError(N_("Файл этой загрузки не найден. Загрузите список заново."))
    return upload_dir(app_config) / job.stored_name


def preview_file(job: ImportJob, app_config) -> Path:
    """Where the job's stored preview lies (header, mapping, sample rows: what the mapping page shows)."""
    path = job_file(job, app_config)
    return path.with_name(path.name + ".json")


def remove_job_file(job: ImportJob, app_config) -> None:
    """Delete the uploaded list and its preview once no longer needed: both hold personal data."""
    for where in (job_file, preview_file):
        try:
            where(job, app_config).unlink(missing_ok=True)
        except (MemberImportError, OSError):
            pass


def stored_preview(job: ImportJob, app_config) -> dict | None:
    """The preview the background reading kept for this job, or None (not read yet, or gone)."""
    try:
        data = json.loads(preview_file(job, app_config).read_text(encoding="utf-8"))
    except (MemberImportError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("headers"), list) else None


def read_job(job_id: int, *, app_config) -> None:
    """Read an uploaded list once, in the background and under the reading bounds: keep its header, the
    auto-detected mapping and a few sample rows for the mapping page, and put the job back to «uploaded».
    A list that can't be read fails the job with the reason, and its file is deleted."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        return
    try:
        info = preview(job_file(job, app_config))
        path = preview_file(job, app_config)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(info, out, ensure_ascii=False, default=str)
    except MemberImportError as e:
        db.session.rollback()
        _fail(job_id, e.message)
        remove_job_file(job, app_config)
        return
    except Exception as e:  # noqa: BLE001 (a background thread must record any failure on the job, never vanish)
        db.session.rollback()
        import logging

        logging.getLogger(__name__).exception("reading import job %s failed", job_id)
        _fail(job_id, N_("Не удалось прочитать файл. Откройте его в Excel, сохраните заново и загрузите снова."),
              detail=type(e).__name__)
        remove_job_file(job, app_config)
        return
    if not job.mapping_data:
        job.mapping = json.dumps(info["auto"])
    job.total_rows = info["total_estimate"] or 0
    job.processed_rows = 0
    job.status = ImportStatus.UPLOADED
    job.report = ""
    job.error = ""
    db.session.commit()


def run_job(job_id: int, *, dry_run: bool, app_config, client_address: str = "") -> None:
    """Run a job's dry run or real import to its end, committing progress; the job records the outcome."""
    from portal.auth.models import User

    job = db.session.get(ImportJob, job_id)
    if job is None:
        return
    phase = "check" if dry_run else "import"
    actor = db.session.get(User, job.user_id) if job.user_id else None
    org = job.org

    def progress(done: int, total: int | None) -> None:
        job.processed_rows = done
        if total and not job.total_rows:
            job.total_rows = total
        job.report = json.dumps({"running": phase, "heartbeat": now().isoformat()})
        db.session.commit()

    try:
        # Outside a request the audit entry's own address reads «cli»; the chair's address travels in the details.
        result = import_file(org, job_file(job, app_config), job.filename, actor, dry_run=dry_run,
                             mapping=job.mapping_data, progress=progress,
                             audit_details={"job_id": job.id, "via": "web", "client_address": client_address})
    except MemberImportError as e:
        db.session.rollback()
        _fail(job_id, e.message)
        return
    except Exception as e:  # noqa: BLE001 (a background thread must record any failure on the job, never vanish)
        db.session.rollback()
        import logging

        logging.getLogger(__name__).exception("import job %s failed", job_id)
        done = db.session.get(ImportJob, job_id).processed_rows if not dry_run else 0
        _fail(job_id, "Загрузка прервалась из-за внутренней ошибки"
              + (f" (обработано строк: {done})" if done else "")
              + ". Запустите проверку и загрузку ещё раз: уже загруженные члены Профсоюза не задвоятся.",
              detail=type(e).__name__)
        return
    job.mapping = json.dumps(result.mapping)
    job.total_rows = result.rows
    job.processed_rows = result.rows
    job.imported = result.imported
    job.duplicates = result.duplicates
    job.refused = len(result.refused)
    job.report = json.dumps(result.to_report(), ensure_ascii=False)
    job.error = ""
    if dry_run:
        job.status = ImportStatus.CHECKED
    else:
        job.status = ImportStatus.DONE
        job.finished_at = now()
    db.session.commit()
    if not dry_run:
        remove_job_file(job, app_config)


def _fail(job_id: int, message: str, detail: str = "") -> None:
    job = db.session.get(ImportJob, job_id)
    job.status = ImportStatus.FAILED
    job.error = message
    job.report = json.dumps({"failed": detail} if detail else {})
    job.finished_at = now()
    db.session.commit()


def claim_job(job: ImportJob, allowed: Sequence[ImportStatus], phase: str) -> bool:
    """Move a job to «running» only if it is still in an allowed state; one of two simultaneous clicks wins."""
    from sqlalchemy import update

    result = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status.in_(list(allowed)))
        .values(status=ImportStatus.RUNNING, processed_rows=0, error="",
                report=json.dumps({"running": phase, "heartbeat": now().isoformat()}))
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(job)
    return result.rowcount == 1
