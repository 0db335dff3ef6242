"""Jobs: the web flow's background run of a dry run or an import, its stored file and progress."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from portal.clock import now
from portal.extensions import db
from portal.i18n import N_
from portal.registry.imports.importer import import_file
from portal.registry.imports.model import ImportJob, ImportStatus, MemberImportError

# ---- jobs (the web flow's background run) ----------------------------------------------------------------------------


def upload_dir(app_config) -> Path:
    return Path(app_config["UPLOAD_DIR"]) / "imports"


_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx)$")


def job_file(job: ImportJob, app_config) -> Path:
    """Where a job's uploaded file lies; the stored name is ours (random), checked again before use."""
    if not _STORED_NAME.match(job.stored_name or ""):
        raise MemberImportError(N_("Файл этой загрузки не найден. Загрузите список заново."))
    return upload_dir(app_config) / job.stored_name


def remove_job_file(job: ImportJob, app_config) -> None:
    """Delete the uploaded list once it is no longer needed: it holds personal data."""
    try:
        job_file(job, app_config).unlink(missing_ok=True)
    except (MemberImportError, OSError):
        pass


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
