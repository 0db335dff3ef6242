"""Consent pages: the member's consent (print, record the signature, withdraw), batch printing, exports."""

from __future__ import annotations

import json
import threading

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from forms.consent import BatchForm, BulkSignForm, PrintForm, SignForm, WithdrawForm
from portal import audit, policy
from portal.clock import now, today
from portal.consent import operations as ops
from portal.consent.models import BatchPrint, BonusExport, ConsentRecord
from portal.extensions import db
from portal.files import FileRejected, remove_stored, send_bytes, send_stored, store_bytes, store_upload, stored_path
from portal.policy import Permission
from portal.registry.models import ConsentStatus, Member, MemberStatus
from workflows import CONSENT, WorkflowError, available, history, may

bp = Blueprint("consent", __name__)
SCAN_AREA = ops.SCAN_AREA
BATCH_AREA = ops.BATCH_AREA
BATCH_LIMIT = 1000


policy.staff_only(bp)


def _refuse(m: Member, action: str, error: WorkflowError, form):
    """A (state, action) pair the workflow does not allow answers 409; a bad date goes back to the form as typed."""
    if not error.is_input and not may(CONSENT, m, action, current_user):
        abort(409, error.message)
    form.add_errors(error.field_errors() if error.is_input else {"": [error.message]})
    return _render_consent(m, 422, **{f"{action}_form": form})


def _editable_member(member_id) -> Member:
    m = policy.get_member(current_user, member_id)
    if not policy.can_edit_member(current_user, m):
        abort(404)
    return m


@bp.route("/members/<member_id>/consent")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def consent(member_id):
    """The member's consent: state, legal records, workflow history, and the actions the user may take."""
    return _render_consent(policy.get_member(current_user, member_id))


def _render_consent(m: Member, status: int = 200, sign_form=None, withdraw_form=None):
    """The consent page; a refused signature or withdrawal comes back in its form as typed, with the message."""
    records = db.session.scalars(select(ConsentRecord).where(ConsentRecord.member_id == m.id)
                                 .order_by(ConsentRecord.id.desc())).all()
    audit.write("consent_read", m)
    actions = {t.name for t in available(CONSENT, m, current_user)}
    page = render_template("consent/consent.html", m=m, records=records, history=history(CONSENT, m),
                           print_problem=ops.consent_print_problem(m),
                           actions=actions, print_form=PrintForm(formdata=None),
                           sign_form=sign_form or SignForm(formdata=None, on_date=today()),
                           withdraw_form=withdraw_form or WithdrawForm(formdata=None, on_date=today()), wf=CONSENT,
                           can_edit=policy.can_edit_member(current_user, m),
                           ticked=request.method == "POST" and request.form.get("consent152") == "yes")
    audit.commit_read()  # after rendering: what the page shows was read in the audited transaction
    return page, status


@bp.route("/members/<member_id>/consent/print", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def print_form(member_id):
    """Generate the consent form (PDF or DOCX) from the member card; the first print moves the state to «printed»."""
    from portal import documents

    m = _editable_member(member_id)
    form = PrintForm()
    if not form.validate_on_submit():
        abort(400, gettext("Выберите формат: PDF или Word."))
    if m.status != MemberStatus.ACTIVE:
        abort(409, gettext("Человек не состоит на учёте: согласие не печатается."))
    problem = ops.consent_print_problem(m)
    if problem:  # a form the law does not accept is not printed; the page says what to fill in
        flash(problem, "error")
        return redirect(url_for("consent.consent", member_id=m.id))
    data = documents.consent_docx(m) if form.fmt.data == "docx" else documents.consent_pdf(m)
    try:
        ops.mark_printed(current_user, m)
    except WorkflowError as e:
        abort(409, e.message)
    audit.record("consent_print", m, fmt=form.fmt.data)
    db.session.commit()
    return send_bytes(data, form.fmt.data, f"soglasie-{m.id}.{form.fmt.data}")


@bp.route("/members/<member_id>/consent/sign", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def sign(member_id):
    """Record the signed consent (the 152-FZ tick) with its date and an optional scan."""
    m = _editable_member(member_id)
    form = SignForm()
    valid = form.validate_on_submit()
    if request.form.get("consent152") != "yes":  # the box of the signed form: no tick, no consent on record
        form.add_errors({"": [gettext("Отметьте согласие по ФЗ № 152-ФЗ «О персональных данных» — без этой отметки "
                                      "подписание не записывается.")]})
        valid = False
    if not valid:
        return _render_consent(m, 422, sign_form=form)
    scan = None
    upload = form.scan.data
    try:
        if upload and getattr(upload, "filename", ""):
            scan = store_upload(upload, SCAN_AREA)
        ops.record_signature(current_user, m, form.on_date.data, scan)
        db.session.commit()
    except (FileRejected, WorkflowError) as e:
        db.session.rollback()
        if scan:
            remove_stored(SCAN_AREA, scan[0])
        if isinstance(e, WorkflowError):
            return _refuse(m, "sign", e, form)
        form.add_errors({"scan": [str(e)]})
        return _render_consent(m, 422, sign_form=form)
    flash(gettext("Согласие отмечено. В течение суток данные будут переданы в ПРОФКАРДС."), "success")
    return redirect(url_for("consent.consent", member_id=m.id))


@bp.route("/members/<member_id>/consent/withdraw", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def withdraw(member_id):
    """Record a withdrawal: transfers stop at once, the programme is told in the next daily run."""
    m = _editable_member(member_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _render_consent(m, 422, withdraw_form=form)
    try:
        ops.withdraw(current_user, m, form.on_date.data, form.reason.data)
        db.session.commit()
    except WorkflowError as e:
        db.session.rollback()
        return _refuse(m, "withdraw", e, form)
    flash(gettext("Отзыв согласия отмечен. Передача данных в ПРОФКАРДС прекращена."), "success")
    return redirect(url_for("consent.consent", member_id=m.id))


@bp.route("/members/<member_id>/consent/scan/<int:record_id>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def scan(member_id, record_id: int):
    """Download the scan of a signed consent (an attachment, never shown inline)."""
    m = policy.get_member(current_user, member_id)
    rec = db.session.get(ConsentRecord, record_id)
    if rec is None or rec.member_id != m.id or not rec.scan_name:
        if rec is not None and rec.member_id != m.id:
            owner = db.session.get(Member, rec.member_id)
            policy.deny_if_foreign(current_user, ConsentRecord.__tablename__, rec.id, owner.org if owner else None)
        abort(404)
    try:
        stored_path(SCAN_AREA, rec.scan_name)
    except FileNotFoundError:  # deleted at the end of its retention (portal.jobs.retention)
        abort(410, gettext("Скан удалён: после отзыва согласия сканы хранятся 3 года."))
    audit.record("consent_scan_read", m, record=rec.id)
    db.session.commit()
    return send_stored(SCAN_AREA, rec.scan_name, f"soglasie-{m.id}.{rec.scan_type}")


# ---- batch printing ---------------------------------------------------------------------------------------------


@bp.route("/orgs/<org_id>/consents/print", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def batch_start(org_id):
    """Print the consent forms of the selected members as one PDF, in the background, with progress."""
    org = policy.get_org(current_user, org_id)
    if not policy.has_permission(current_user, Permission.EDIT_MEMBERS):
        abort(404)
    form = BatchForm()
    if not form.validate_on_submit():
        abort(400)
    ids = [int(x) for x in request.form.getlist("member_ids") if x.isdigit()]
    if request.form.get("all_without_consent"):
        q = select(Member.id).where(policy.member_scope(current_user), Member.org_id == org.id,
                                    Member.status == MemberStatus.ACTIVE,
                                    Member.consent_status == ConsentStatus.NONE).order_by(Member.last_name_folded)
        ids = list(db.session.scalars(q.limit(BATCH_LIMIT + 1)))
    if not ids:
        flash(gettext("Отметьте членов Профсоюза, чьи согласия нужно распечатать."), "warning")
        return redirect(request.referrer if _own_url(request.referrer) else url_for("registry.members", org_id=org.id))
    if len(ids) > BATCH_LIMIT:
        abort(400, gettext("За один раз можно распечатать не больше %(n)s согласий.", n=BATCH_LIMIT))
    members = db.session.scalars(select(Member).where(Member.id.in_(ids), policy.member_scope(current_user),
                                                      Member.status == MemberStatus.ACTIVE)).all()
    if len(members) != len(set(ids)):
        abort(404)
    order = {mid: i for i, mid in enumerate(ids)}
    members.sort(key=lambda m: order[m.id])
    # Members whose card lacks what the consent must name (152-FZ art. 9 part 4) are left out, by name.
    incomplete = [m for m in members if m.consent_missing()]
    if incomplete:
        names = ", ".join(m.short_name for m in incomplete[:10]) + (" …" if len(incomplete) > 10 else "")
        flash(gettext("Не печатаются согласия %(n)s чел. — в карточке не хватает адреса, документа, удостоверяющего "
                      "личность, или места работы: %(names)s. Откройте согласие каждого, чтобы увидеть, что заполнить.",
                      n=len(incomplete), names=names), "warning")
        members = [m for m in members if not m.consent_missing()]
        if not members:
            return redirect(request.referrer if _own_url(request.referrer)
                            else url_for("registry.members", org_id=org.id))
    job = BatchPrint(org_id=org.id, user_id=current_user.id, member_ids=json.dumps([m.id for m in members]),
                     total=len(members))
    db.session.add(job)
    db.session.commit()
    app = current_app._get_current_object()
    actor_id = current_user.id
    if app.config.get("TESTING") and not app.config.get("BATCH_IN_THREAD"):
        _run_batch(app, job.id, actor_id)
    else:
        threading.Thread(target=_run_batch, args=(app, job.id, actor_id), daemon=True).start()
    return redirect(url_for("consent.batch", job_id=job.id))


BULK_LIMIT = 500  # ticked rows of one or a few pages of the member list


@bp.route("/orgs/<org_id>/consents/sign", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def bulk_sign(org_id):
    """«Согласия подписаны» for the ticked members at once, with one date (seed 002 step 7).

    Each member goes through the same workflow transition as on their own page, in a transaction of its own, so one
    refusal (the form was never printed, the member left) stops nobody else; the answer is a per-member report. A
    missing date or tick comes back as the form with the chosen members, filled in (422). An id outside the user's
    scope answers 404 like a missing one, and nothing is recorded.
    """
    org = policy.get_org(current_user, org_id)
    if not policy.has_permission(current_user, Permission.EDIT_MEMBERS):
        abort(404)
    form = BulkSignForm()
    ids = list(dict.fromkeys(int(x) for x in request.form.getlist("member_ids")[:BULK_LIMIT] if x.isdigit()))
    members = db.session.scalars(select(Member).where(Member.id.in_(ids or [0]), policy.member_scope(current_user))
                                 .order_by(Member.last_name_folded, Member.id)).all()
    if len(members) != len(ids):
        abort(404)
    valid = form.validate_on_submit()
    if not ids:
        form.add_errors({"": [gettext("Отметьте членов Профсоюза, чьи подписанные согласия получены.")]})
        valid = False
    if not valid:
        return _render_bulk_sign(org, form, members, [], 422)
    results = []
    for m in members:
        name, member_id = m.full_name, m.id
        try:
            ops.record_signature(current_user, m, form.on_date.data)
            db.session.commit()
            results.append((member_id, name, True, gettext("согласие отмечено")))
        except WorkflowError as e:
            db.session.rollback()
            results.append((member_id, name, False, e.message))
    done = sum(1 for r in results if r[2])
    if done:
        flash(gettext("Согласия отмечены: %(n)s из %(total)s. В течение суток данные будут переданы в ПРОФКАРДС.",
                      n=done, total=len(results)), "success")
    return _render_bulk_sign(org, form, [], results, 200)


def _render_bulk_sign(org, form, members, results, status):
    """The bulk form with the chosen members (to correct and resend) and/or the per-member report."""
    html = render_template("consent/bulk_sign.html", org=org, form=form, members=members, results=results)
    audit.write("consent_bulk_sign_page", object_type="members", org_id=org.id,
                ids=[m.id for m in members] + [r[0] for r in results])
    audit.commit_read()
    return html, status


def _own_url(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


def _run_batch(app, job_id: int, actor_id: int) -> None:
    """Render the batch, store it, and mark each newly printed consent; progress is committed as chunks finish."""
    from portal import documents
    from portal.auth.models import User

    with app.app_context():
        job = db.session.get(BatchPrint, job_id)
        actor = db.session.get(User, actor_id)
        ids = json.loads(job.member_ids)
        members = {m.id: m for m in db.session.scalars(select(Member).where(Member.id.in_(ids)))}
        ordered = [members[i] for i in ids]
        name = f"{job.id}-{now().strftime('%Y%m%d%H%M%S')}.pdf"

        def progress(done, total):
            db.session.execute(BatchPrint.__table__.update().where(BatchPrint.id == job_id).values(done=done))
            db.session.commit()

        try:
            data = documents.consent_batch_pdf(ordered, progress=progress)
            store_bytes(BATCH_AREA, name, data)
            for m in ordered:
                ops.mark_printed(actor, m)
            job = db.session.get(BatchPrint, job_id)
            job.stored_name, job.status, job.done, job.finished_at = name, "done", job.total, now()
            audit.record("consent_batch_print", object_type="batch_prints", object_id=job.id, org_id=job.org_id,
                         actor=actor, count=job.total)
            db.session.commit()
        except Exception as e:  # the page must show a failure instead of spinning forever
            db.session.rollback()
            remove_stored(BATCH_AREA, name)
            job = db.session.get(BatchPrint, job_id)
            job.status, job.error, job.finished_at = "failed", f"{type(e).__name__}: {e}"[:500], now()
            db.session.commit()
            app.logger.exception("batch print %s failed", job_id)
        finally:
            db.session.remove()


def _batch(job_id: int) -> BatchPrint:
    """The batch if it was made in the user's scope; 404 otherwise (a foreign one audited)."""
    return policy.get_scoped(current_user, BatchPrint, job_id, lambda j: j.org)


@bp.route("/consent-batches/<int:job_id>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def batch(job_id: int):
    """Progress of a batch print, then its download link."""
    return render_template("consent/batch.html", job=_batch(job_id))


@bp.route("/consent-batches/<int:job_id>/status")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def batch_status(job_id: int):
    job = _batch(job_id)
    return jsonify({"done": job.done, "total": job.total, "status": job.status,
                    "download": url_for("consent.batch_download", job_id=job.id) if job.status == "done" else None,
                    "error": gettext("Не удалось сформировать файл. Попробуйте ещё раз.") if job.status == "failed" else None})


@bp.route("/consent-batches/<int:job_id>/download")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def batch_download(job_id: int):
    job = _batch(job_id)
    if job.status != "done":
        abort(409, gettext("Файл ещё не готов."))
    if not job.stored_name:  # deleted at the end of its retention (portal.jobs.retention)
        abort(410, gettext("Файл удалён: пакеты согласий хранятся %(n)s дней. Сформируйте пакет заново.",
                           n=current_app.config.get("CONSENT_BATCH_RETENTION_DAYS") or 30))
    # The file holds the personal data of every member in the batch: the download is audited with their ids.
    audit.record("consent_batch_download", object_type="batch_prints", object_id=job.id, org_id=job.org_id,
                 ids=json.loads(job.member_ids or "[]"))
    db.session.commit()
    return send_stored(BATCH_AREA, job.stored_name, f"soglasiya-{job.id}.pdf")


# ---- transfers to the bonus programme ---------------------------------------------------------------------------


@bp.route("/consent-exports")
@policy.requires(policy.Permission.BACK_OFFICE)
def exports():
    """The daily transfers to PROFCARDS (central office only)."""
    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    rows = db.session.scalars(select(BonusExport).order_by(BonusExport.id.desc()).limit(200)).all()
    return render_template("consent/exports.html", rows=rows)


@bp.route("/consent-exports/<int:export_id>/<fmt>")
@policy.requires(policy.Permission.BACK_OFFICE)
def export_file(export_id: int, fmt: str):
    """One transfer's CSV or JSON, without anyone who has withdrawn consent since — central office only."""
    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    export = db.session.get(BonusExport, export_id)
    if export is None or fmt not in ("csv", "json"):
        abort(404)
    if export.purged_at is not None:  # deleted at the end of its retention (portal.jobs.retention)
        abort(410, gettext("Файлы этой выгрузки удалены по истечении срока хранения; остались число строк и "
                           "контрольная сумма."))
    from portal.jobs.retention import strip_before_download

    strip_before_download()  # a withdrawal since the last night leaves the file before it is served
    audit.record("bonus_export_download", object_type="bonus_exports", object_id=export.id, fmt=fmt)
    db.session.commit()
    return send_stored(ops.EXPORT_AREA, export.csv_name if fmt == "csv" else export.json_name,
                       export.csv_name if fmt == "csv" else export.json_name)


@bp.route("/consent/destructions")
@policy.requires(policy.Permission.BACK_OFFICE)
def destructions():
    """Destruction records (152-FZ art. 21): whose data, which categories, which files, when, by which job —
    central office only; the list names members, so it is audited with their ids."""
    from portal.consent.models import DataDestruction

    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    rows = db.session.execute(select(DataDestruction, Member).join(Member, Member.id == DataDestruction.member_id)
                              .order_by(DataDestruction.id.desc()).limit(500)).all()
    entries = [(d, m, json.loads(d.files or "[]")) for d, m in rows]
    audit.record("data_destructions_list", object_type="data_destructions", ids=[m.id for _, m in rows])
    db.session.commit()
    return render_template("consent/destructions.html", entries=entries)
