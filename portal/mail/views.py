"""Service pages for the central administrators: the mail outbox and the scheduled jobs.

Only a user with the back-office permission in the central organisation sees them; everyone else gets the same 404
as for a page that does not exist. Reading a message (it holds a member's address and text) is audited.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select
from wtforms import IntegerField
from wtforms.validators import Optional

from forms import BaseForm
from portal import audit, policy
from portal.extensions import db
from portal.i18n import N_
from portal.jobs import runner
from portal.jobs.schedule import all_jobs
from portal.mail import outbox as outbox_ops
from portal.mail.models import OutboxMessage
from portal.mail.outbox import mail_configured
from portal.policy import Permission

bp = Blueprint("service", __name__)

PAGE_SIZE = 50
STATUS_TITLES = {
    "pending": N_("в очереди"),
    "sent": N_("отправлено"),
    "stored": N_("сохранено (почта не настроена)"),
    "failed": N_("не отправлено"),
    "cancelled": N_("отменено (получатель отписался)"),
}
RUN_TITLES = {"running": N_("выполняется"), "done": N_("выполнено"), "failed": N_("ошибка"), "skipped": N_("пропущено")}


@bp.before_request
@login_required
def _central_admins_only():
    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    return None


@bp.app_template_filter("msk")
def _msk(value):
    """A stored time as Moscow wall-clock time."""
    return runner.moscow(value).strftime("%d.%m.%Y %H:%M:%S") if value else ""


# ---- outbox -------------------------------------------------------------------------------------------------------


@bp.route("/mail/outbox")
@policy.requires(policy.Permission.BACK_OFFICE)
def outbox():
    """The outbox, newest first, with a status filter and pages."""
    status = request.args.get("status", "")
    if status and status not in STATUS_TITLES:
        abort(400, gettext("Неизвестный статус письма."))
    q = select(OutboxMessage)
    if status:
        q = q.where(OutboxMessage.status == status)
    total = db.session.scalar(select(func.count()).select_from(q.order_by(None).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = db.session.scalars(q.order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
                              .offset((page - 1) * PAGE_SIZE)).all()
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    audit.record("outbox_list", object_type="outbox", ids=[m.id for m in rows], status=status or "all")
    db.session.commit()

    def page_args(p):
        return urlencode({**({"status": status} if status else {}), "page": p})

    return render_template("mail/outbox.html", rows=rows, total=total, page=page, pages=pages, status=status,
                           page_args=page_args, counts=counts, titles=STATUS_TITLES, configured=mail_configured(),
                           form=ResendForm(), retry_hours=outbox_ops.retry_period().total_seconds() / 3600)


@bp.route("/mail/outbox/<int:msg_id>")
@policy.requires(policy.Permission.BACK_OFFICE)
def outbox_message(msg_id: int):
    """One message as it was (or will be) sent."""
    msg = db.session.get(OutboxMessage, msg_id)
    if msg is None:
        abort(404)
    audit.record("outbox_read", object_type="outbox", object_id=msg.id)
    db.session.commit()
    # A mailing's letter still queued as a reference: shown as it will be sent (None: it will be cancelled).
    body = outbox_ops.letter_body(msg)
    return render_template("mail/message.html", msg=msg, body=body if body is not None else "",
                           titles=STATUS_TITLES, form=ResendForm(version=msg.version))


class ResendForm(BaseForm):
    """A resend button: the CSRF token and the version of the message the administrator saw."""

    version = IntegerField(validators=[Optional()])


@bp.route("/mail/outbox/<int:msg_id>/resend", methods=["POST"])
@policy.requires(policy.Permission.BACK_OFFICE)
def outbox_resend(msg_id: int):
    """Put one failed message back in the queue (audited); of two clicks one resends, the worker sends it once."""
    msg = db.session.get(OutboxMessage, msg_id)
    if msg is None:
        abort(404)
    form = ResendForm()
    if not form.validate_on_submit() or form.version.data is None:
        abort(400, gettext("Форма устарела. Обновите страницу."))
    if outbox_ops.resend(msg.id, form.version.data):
        audit.record("outbox_resend", object_type="outbox", object_id=msg.id)
        db.session.commit()
        flash(gettext("Письмо снова поставлено в очередь; оно будет отправлено один раз."), "success")
    else:
        db.session.rollback()
        flash(gettext("Письмо уже поставлено в очередь повторно (или отправлено). Обновите страницу."), "info")
    return redirect(url_for("service.outbox_message", msg_id=msg_id))


@bp.route("/mail/outbox/resend-failed", methods=["POST"])
@policy.requires(policy.Permission.BACK_OFFICE)
def outbox_resend_failed():
    """Put every failed message back in the queue (audited with their ids)."""
    if not ResendForm().validate_on_submit():
        abort(400, gettext("Форма устарела. Обновите страницу."))
    ids = outbox_ops.resend_failed()
    audit.record("outbox_resend_failed", object_type="outbox", ids=ids)
    db.session.commit()
    flash(gettext("Снова поставлено в очередь писем: %(n)s.", n=len(ids)), "success" if ids else "info")
    return redirect(url_for("service.outbox", status="pending"))


# ---- jobs -----------------------------------------------------------------------------------------------------------


@bp.route("/jobs")
@policy.requires(policy.Permission.BACK_OFFICE)
def jobs():
    """Registered jobs: schedule, last runs with their reports, and a button to run one now."""
    items = []
    for job in all_jobs():
        runs = [(run, not job.schedule.is_slot(runner.utc(run.slot))) for run in runner.last_runs(job.name, limit=5)]
        items.append({"job": job, "runs": runs})
    return render_template("jobs/list.html", items=items, titles=RUN_TITLES)


@bp.route("/jobs/<name>/run", methods=["POST"])
@policy.requires(policy.Permission.BACK_OFFICE)
def run_job(name: str):
    """Run a job now (the form carries the CSRF token like every form of the portal)."""
    names = {job.name for job in all_jobs()}
    if name not in names:
        abort(404)
    audit.record("job_run", object_type="job_runs", job=name)
    db.session.commit()
    try:
        run = runner.run_job(name)
    except runner.JobError as err:
        flash(str(err), "warning")
        return redirect(url_for("service.jobs"))
    if run.status == "done":
        flash(gettext("Задание выполнено: %(report)s", report=run.output or gettext("без отчёта")), "success")
    else:
        flash(gettext("Задание завершилось ошибкой; подробности — в журнале запусков ниже."), "error")
    return redirect(url_for("service.jobs"))

