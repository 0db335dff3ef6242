"""Import of member lists and export of the members a chair can see (pages).

The chair's path: upload a file → check the column mapping → a dry run with its report → confirm → the real run,
with a progress bar for long lists. Both runs go in a background thread with its own app context, which commits
progress on the ImportJob; the page polls a small JSON status. Every page of a job answers 404 to anyone whose scope
does not contain the job's organisation, exactly like a missing job.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectField

from forms import BaseForm
from portal import policy
from portal.clock import today
from portal.extensions import db
from portal.i18n import N_, lazy
from portal.policy import Permission
from portal.registry.exports import export_members
from portal.registry.imports import (
    ENUMS,
    FIELDS,
    ImportJob,
    ImportStatus,
    MemberImportError,
    check_mapping,
    claim_job,
    detect_kind,
    job_file,
    missing_fields,
    read_job,
    remove_job_file,
    run_job,
    stored_preview,
    upload_dir,
)
from portal.registry.models import OrgLevel

bp = Blueprint("imports", __name__)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_EXPORT_MAX_ROWS = 500_000
READ_WAIT_SECONDS = 3.0  # how long the upload request waits for the background reading before showing progress


@bp.before_request
@login_required
def _require_login():
    """Every page here is for logged-in staff only."""
    return None


class UploadForm(BaseForm):
    """The member list file."""

    file = FileField(lazy_gettext("Файл со списком (Excel .xlsx или CSV)"),
                     validators=[FileRequired(lazy_gettext("Выберите файл со списком."))])


class ConfirmForm(BaseForm):
    """A button that changes something (start, cancel): only the CSRF token travels."""


def _mapping_form(headers: list[str], samples: dict[int, str]):
    """A form with one select per card field, listing the file's columns (with a sample value each)."""

    class MappingForm(BaseForm):
        pass

    choices = [("", gettext("— нет в файле —"))]
    for i, h in enumerate(headers):
        label = f"{_letter(i)}: {h or gettext('(без названия)')}"
        if samples.get(i):
            label += " — " + gettext("например, «%(sample)s»", sample=samples[i][:40])
        choices.append((str(i), label))
    for key, title in FIELDS.items():
        setattr(MappingForm, key, SelectField(lazy(title), choices=choices, default=""))
    return MappingForm


def _letter(index: int) -> str:
    """Excel's column letter (A, B, …, AA), as the chair sees it in the file."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _can_import() -> bool:
    return policy.has_permission(current_user, Permission.IMPORT_MEMBERS)


def _load_job(job_id: int) -> ImportJob:
    """The job if the user may import into its organisation; 404 otherwise (missing and foreign alike)."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    if not (_can_import() and policy.org_in_scope(current_user, job.org)):
        policy.abort_not_found("import_jobs", job_id, user=current_user)
    return job


def _start(job: ImportJob, *, dry_run: bool) -> threading.Thread:
    """Run the job in a background thread with its own app context (and so its own session)."""
    address = request.remote_addr or ""
    return _in_background(job, lambda app, job_id: run_job(job_id, dry_run=dry_run, app_config=app.config,
                                                           client_address=address))


def _start_reading(job: ImportJob) -> threading.Thread:
    """Read the uploaded file once in the background (header, mapping, sample rows kept for the mapping page)."""
    return _in_background(job, lambda app, job_id: read_job(job_id, app_config=app.config))


def _in_background(job: ImportJob, work_on) -> threading.Thread:
    app = current_app._get_current_object()
    job_id = job.id

    def work():
        with app.app_context():
            try:
                work_on(app, job_id)
            finally:
                db.session.remove()

    thread = threading.Thread(target=work, name=f"import-job-{job_id}", daemon=True)
    thread.start()
    return thread


def _history(org_id: int) -> list[ImportJob]:
    return db.session.scalars(select(ImportJob).where(ImportJob.org_id == org_id)
                              .order_by(ImportJob.id.desc()).limit(10)).all()


@bp.route("/orgs/<org_id>/import", methods=["GET", "POST"])
def upload(org_id):
    """Upload a member list (XLSX or CSV); the file is checked by its content and kept under a random name."""
    org = policy.get_org(current_user, org_id)
    if not _can_import():
        abort(404)
    form = UploadForm()
    status = 200
    error = None
    if org.level != OrgLevel.PRIMARY:
        if request.method == "POST":
            abort(400, gettext("Списки загружают в первичную организацию: откройте нужную первичную организацию."))
        return render_template("imports/upload.html", org=org, form=None, error=None, history=[])
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                job = _store_upload(org, form.file.data)
            except MemberImportError as e:
                error, status = e.translated(), 400
            else:
                if job.status == ImportStatus.UPLOADED:
                    return redirect(url_for("imports.mapping", job_id=job.id))
                return redirect(url_for("imports.job", job_id=job.id))  # still reading: the progress page
        else:
            error = "; ".join(str(e) for e in form.file.errors) or gettext("Форма устарела. Обновите страницу и выберите файл снова.")
            status = 400
    return render_template("imports/upload.html", org=org, form=form, error=error,
                           history=_history(org.id)), status


def _store_upload(org, storage) -> ImportJob:
    """Check and store an uploaded list, then read it once in the background; nothing is left if it fails.

    The request itself only looks at the bytes' kind and, for a book, its zip directory (sizes, no unpacking).
    The reading — bounded in rows, columns, cells and unpacked sizes — runs in a background thread; the request
    waits for it a few seconds, so an ordinary list goes straight to the mapping and an unreadable one is
    refused here with its reason (the job and the file deleted); a long one shows its progress page meanwhile.
    """
    limit = current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)
    data = storage.read(limit + 1)
    if len(data) > limit:
        raise MemberImportError(gettext("Файл больше %(mb)s МБ. Разделите список на несколько файлов.",
                                        mb=limit // (1024 * 1024)))
    kind = detect_kind(data)
    folder = upload_dir(current_app.config)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored = f"{secrets.token_hex(16)}.{kind}"
    path = folder / stored
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        job = ImportJob(org_id=org.id, user_id=current_user.id, filename=(storage.filename or "")[:255],
                        stored_name=stored, file_kind=kind, file_sha256=hashlib.sha256(data).hexdigest(),
                        mapping="", status=ImportStatus.UPLOADED, total_rows=0)
        db.session.add(job)
        db.session.commit()
    except Exception:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    claim_job(job, [ImportStatus.UPLOADED], "read")
    _start_reading(job).join(current_app.config.get("IMPORT_READ_WAIT", READ_WAIT_SECONDS))
    db.session.refresh(job)
    if job.status == ImportStatus.FAILED:  # refused while the chair waits: nothing is kept
        error = MemberImportError(job.error)
        remove_job_file(job, current_app.config)
        db.session.delete(job)
        db.session.commit()
        raise error
    return job


@bp.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
def mapping(job_id: int):
    """Check which column feeds which field of the card, then start the dry run."""
    job = _load_job(job_id)
    if job.status == ImportStatus.DONE or (job.status == ImportStatus.RUNNING and not job.seems_stalled()):
        return redirect(url_for("imports.job", job_id=job.id))
    info = stored_preview(job, current_app.config)  # read once in the background; never parsed by a page
    if info is None:
        try:
            present = job_file(job, current_app.config).is_file()
        except MemberImportError:
            present = False
        if not present:
            flash(gettext("Файл этой загрузки больше недоступен. Загрузите список заново."), "warning")
            return redirect(url_for("imports.upload", org_id=job.org_id))
        allowed = [ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED]
        if job.seems_stalled():
            allowed.append(ImportStatus.RUNNING)
        if claim_job(job, allowed, "read"):  # uploaded before previews were kept, or the preview was lost
            _start_reading(job)
        return redirect(url_for("imports.job", job_id=job.id))
    headers = info["headers"]
    samples = {}
    for _, cells in info["sample"]:
        for i, v in enumerate(cells):
            if v and i not in samples:
                samples[i] = v
    form = _mapping_form(headers, samples)()
    current = job.mapping_data
    error = None
    status = 200
    if request.method == "GET":
        for key in FIELDS:
            form[key].data = str(current[key]) if key in current else ""
    elif form.validate_on_submit():
        chosen = {key: int(form[key].data) for key in FIELDS if form[key].data not in (None, "")}
        try:
            check_mapping(headers, chosen)
        except MemberImportError as e:
            error, status = e.translated(), 400
        else:
            job.mapping = json.dumps(chosen)
            db.session.commit()
            allowed = [ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED]
            if job.seems_stalled():
                allowed.append(ImportStatus.RUNNING)
            if claim_job(job, allowed, "check"):
                _start(job, dry_run=True)
            return redirect(url_for("imports.job", job_id=job.id))
    else:
        error, status = gettext("Выберите столбцы из списков и отправьте форму ещё раз."), 400
    shown = {key: int(form[key].data) for key in FIELDS if form[key].data not in (None, "")}
    return render_template("imports/mapping.html", job=job, org=job.org, form=form, info=info, error=error,
                           missing=missing_fields(shown), letter=_letter, fields=FIELDS,
                           previous=_previous_done(job)), status


def _previous_done(job: ImportJob) -> ImportJob | None:
    """An earlier finished import of the very same file into this organisation, to warn the chair."""
    return db.session.scalar(select(ImportJob).where(
        ImportJob.org_id == job.org_id, ImportJob.file_sha256 == job.file_sha256, ImportJob.id != job.id,
        ImportJob.status == ImportStatus.DONE).order_by(ImportJob.id.desc()).limit(1))


@bp.route("/imports/<int:job_id>")
def job(job_id: int):
    """The job's page: progress while it runs, then the dry-run report with the confirm button, or the outcome."""
    job = _load_job(job_id)
    if job.status == ImportStatus.UPLOADED:
        return redirect(url_for("imports.mapping", job_id=job.id))
    report = job.report_data if job.status in (ImportStatus.CHECKED, ImportStatus.DONE) else {}
    headers = report.get("headers") or []
    mapping_rows = [(FIELDS[k], headers[i] if i < len(headers) else "", _letter(i))
                    for k, i in sorted(report.get("mapping", {}).items(), key=lambda kv: kv[1])] if report else []
    return render_template("imports/job.html", job=job, org=job.org, report=report, form=ConfirmForm(),
                           mapping_rows=mapping_rows, enums=ENUMS, previous=_previous_done(job),
                           stalled=job.seems_stalled())


@bp.route("/imports/<int:job_id>/status")
def status(job_id: int):
    """The job's progress as JSON, polled by the progress bar."""
    job = _load_job(job_id)
    return jsonify({
        "status": job.status.value, "title": job.status.title, "phase": job.running_phase,
        "processed": job.processed_rows, "total": job.total_rows,
        "finished": job.status != ImportStatus.RUNNING, "stalled": job.seems_stalled(),
    })


@bp.route("/imports/<int:job_id>/run", methods=["POST"])
def run(job_id: int):
    """Confirm the checked list: the real import starts once, however many times the button is pressed."""
    job = _load_job(job_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if job.status == ImportStatus.DONE:
        flash(gettext("Этот список уже загружен. Повторная загрузка ничего не добавит: уже состоящие на учёте не задваиваются."),
              "info")
    elif claim_job(job, [ImportStatus.CHECKED], "import"):
        _start(job, dry_run=False)
    elif job.status == ImportStatus.RUNNING:
        flash(gettext("Загрузка уже идёт."), "info")
    else:
        flash(gettext("Сначала проверьте список: выберите столбцы и запустите проверку."), "warning")
        return redirect(url_for("imports.mapping", job_id=job.id))
    return redirect(url_for("imports.job", job_id=job.id))


@bp.route("/imports/<int:job_id>/cancel", methods=["POST"])
def cancel(job_id: int):
    """Drop an unfinished upload and delete its file."""
    job = _load_job(job_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if job.status in (ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED):
        job.status = ImportStatus.FAILED
        job.error = N_("Загрузка отменена.")  # kept Russian in the job; the page translates it
        db.session.commit()
        remove_job_file(job, current_app.config)
        flash(gettext("Загрузка отменена, файл удалён."), "info")
    elif job.status == ImportStatus.RUNNING:
        flash(gettext("Идущую загрузку отменить нельзя: дождитесь её окончания."), "warning")
        return redirect(url_for("imports.job", job_id=job.id))
    return redirect(url_for("imports.upload", org_id=job.org_id))


@bp.route("/orgs/<org_id>/export.xlsx")
def export(org_id):
    """Download the members the user can see as XLSX."""
    org = policy.get_org(current_user, org_id)
    if not (policy.has_permission(current_user, Permission.VIEW_REGISTRY)
            and policy.has_permission(current_user, Permission.EXPORT_MEMBERS)):
        abort(404)
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    try:
        export_members(org, current_user, request.args, out,
                       max_rows=current_app.config.get("EXPORT_MAX_ROWS", DEFAULT_EXPORT_MAX_ROWS))
    except MemberImportError as e:
        out.close()
        db.session.rollback()
        abort(400, e.translated())
    db.session.commit()
    out.seek(0)
    name = f"Члены Профсоюза — {org.short_name or org.name} — {today():%d.%m.%Y}.xlsx".replace("/", "-")
    response = send_file(out, mimetype=XLSX_MIME, as_attachment=True, download_name=name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
