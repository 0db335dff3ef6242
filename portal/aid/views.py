"""Material aid pages: the chair's petition form with the live quote, the petition page, the office's list, the
presidium's queue, the accountant's payments and register, and the regulation.

Every view loads its object through `portal.policy` (404 for missing and foreign alike), checks the permission,
validates a form and calls one operation from `portal.aid.operations`; states change only through the workflow.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from flask_login import current_user
from sqlalchemy import and_, or_, select

from forms.aid import (
    ActionForm,
    AttachmentForm,
    DecisionForm,
    OverrideForm,
    PaymentForm,
    PetitionForm,
    RegulationForm,
)
from portal import audit, policy
from portal.aid import operations as ops
from portal.aid.flow import parse_amount
from portal.aid.models import AidPetition, AidRegulation, AttachmentKind, PetitionAttachment, PetitionState
from portal.clock import today
from portal.extensions import db
from portal.files import send_bytes, send_stored
from portal.policy import Permission
from portal.registry.models import Member, MemberStatus, Organisation, OrgLevel
from portal.text import money as format_money
from portal.text import percent as format_percent
from portal.text import years as format_years
from workflows import AID_PETITION, WorkflowError, available, history, problems, withheld
from workflows import aid as rules

bp = Blueprint("aid", __name__)


policy.staff_only(bp)


def _require(permission: str) -> None:
    policy.require(current_user, permission)


def _version(form) -> int | None:
    value = (form.version.data or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _user_region() -> Organisation | None:
    return ops.region_of(current_user.org)


# ---- the list ------------------------------------------------------------------------------------------------


def _overdue_condition(on: date):
    """Filed and not reviewed, or approved and not paid, for more than two weeks."""
    from datetime import UTC, datetime, time

    limit = on - timedelta(days=ops.REVIEW_DAYS)
    override_limit = datetime.combine(limit, time.min, tzinfo=UTC)
    return or_(and_(AidPetition.state == PetitionState.FILED, AidPetition.filed_on < limit),
               and_(AidPetition.state == PetitionState.APPROVED, AidPetition.decision_date < limit),
               and_(AidPetition.state == PetitionState.APPROVED, AidPetition.decision_date.is_(None),
                    AidPetition.override_at < override_limit))


@bp.route("/aid")
@policy.requires(policy.Permission.VIEW_AID)
def index():
    """Where a role starts: the presidium at its queue, the accountant at payments, others at the list."""
    _require(Permission.VIEW_AID)
    if policy.has_permission(current_user, Permission.DECIDE_AID) and not policy.is_central(current_user):
        return redirect(url_for("aid.queue"))
    if policy.has_permission(current_user, Permission.PAY_AID) and not policy.is_central(current_user):
        return redirect(url_for("aid.payments"))
    return redirect(url_for("aid.petitions"))


@bp.route("/aid/petitions")
@policy.requires(policy.Permission.VIEW_AID)
def petitions():
    """Petitions in the user's scope, filtered by state or overdue (the regional office's list)."""
    _require(Permission.VIEW_AID)
    q = select(AidPetition).where(policy.aid_scope(current_user))
    state = request.args.get("state", "")
    overdue_only = bool(request.args.get("overdue"))
    if overdue_only:
        q = q.where(_overdue_condition(today()))
    elif state:
        try:
            q = q.where(AidPetition.state == PetitionState(state))
        except ValueError:
            abort(400, gettext("Неизвестное состояние ходатайства."))
    rows = db.session.scalars(q.order_by(AidPetition.id.desc()).limit(500)).all()
    overdue = {p.id for p in rows if _is_overdue(p)}
    audit.record("aid_petitions_list", object_type="aid_petitions", org_id=current_user.org_id,
                 ids=[p.id for p in rows][:200])
    db.session.commit()
    return render_template("aid/petitions.html", rows=rows, states=PetitionState, state=state, overdue=overdue,
                           overdue_only=overdue_only, can_file=_can_file())


def _is_overdue(p: AidPetition) -> bool:
    limit = today() - timedelta(days=ops.REVIEW_DAYS)
    decided = p.decision_date or (p.override_at.date() if p.override_at else None)
    return ((p.state == PetitionState.FILED and p.filed_on < limit)
            or (p.state == PetitionState.APPROVED and decided is not None and decided < limit))


def _can_file() -> bool:
    from portal.auth.models import Role

    return (current_user.role == Role.PRIMARY_CHAIR and policy.has_permission(current_user, Permission.FILE_AID)
            and current_user.org.level == OrgLevel.PRIMARY)


# ---- filing --------------------------------------------------------------------------------------------------


def _member_choices() -> list[tuple[str, str]]:
    members = db.session.scalars(select(Member).where(Member.org_id == current_user.org_id,
                                                      Member.status == MemberStatus.ACTIVE)
                                 .order_by(Member.last_name_folded, Member.id).limit(5000)).all()
    return [("", gettext("— выберите —"))] + [(str(m.id), f"{m.full_name}, {m.birth_date:%d.%m.%Y}") for m in members]


def _chosen_member(value) -> Member | None:
    member_id = policy.parse_id(value)
    if member_id is None:
        return None
    member = db.session.get(Member, member_id)
    if member is None or member.org_id != current_user.org_id:
        return None
    return member


def _treatment(form: PetitionForm) -> ops.TreatmentFacts | None:
    if not (form.treatment_start.data and form.treatment_end.data):
        return None
    return ops.TreatmentFacts(sanatorium=form.sanatorium.data or "", treatment_start=form.treatment_start.data,
                              treatment_end=form.treatment_end.data, voucher_source=form.voucher_source.data,
                              payer=form.payer.data, patient=form.patient.data, pays_dues=bool(form.pays_dues.data))


def _quote_json(member: Member | None, form: PetitionForm) -> dict:
    """The live quote as the form's script shows it (also rendered by the page for the no-script check)."""
    if member is None:
        return {"ready": False, "message": gettext("Выберите члена Профсоюза.")}
    treatment = _treatment(form)
    out = {"ready": False, "member": member.full_name, "tenure_years": member.tenure_years(),
           "membership_level": None}
    level = ops.membership_level(member.org)
    out["membership_level"] = str(level) if level is not None else None
    if treatment is None:
        out["message"] = gettext("Укажите даты лечения.")
        out["summary"] = (gettext("%(member)s: стаж %(years)s", member=member.full_name,
                                   years=format_years(out["tenure_years"], str(get_locale())))
                          + (gettext(", уровень членства первичной организации %(level)s %%",
                                     level=format_percent(level, str(get_locale())))
                             if level is not None else "") + ".")
        return out
    q = ops.quote_for(member, treatment)
    bank = ops.bank_problems((form.account_number.data or "").strip(), (form.bik.data or "").strip(),
                             form.bank_name.data or "") if (form.account_number.data or form.bik.data) else {}
    amount = format_money(q.amount, str(get_locale()))
    days = rules.stay_days(treatment.treatment_start, treatment.treatment_end)
    # The page and the script show the same (translated) sentences: the script only places them.
    texts = {
        "summary": gettext("%(member)s: профсоюзный стаж %(years)s; уровень членства %(level)s %%; срок "
                           "пребывания %(days)s дн.", member=member.full_name,
                           years=format_years(out["tenure_years"], str(get_locale())),
                           level=format_percent(level, str(get_locale())) if level is not None else "—", days=days),
        "amount_label": gettext("Сумма по Положению:") + " ", "amount_text": gettext("%(amount)s руб.", amount=amount),
        "blocked_text": gettext("Ходатайство с такими нарушениями подать нельзя."),
        "eligible_text": gettext("Все условия Положения выполнены."),
    }
    return {**out, **texts, "ready": True, "amount": amount, "eligible": q.eligible, "stay_days": days,
            "problems": [{"rule": p.rule, "message": p.label, "blocking": p.blocking} for p in q.problems],
            "bank_problems": list(bank.values())}


def _name_programme(form: PetitionForm, regulation: AidRegulation | None) -> None:
    """The union programme of the chair's own region by name in the voucher and payer choices (seed 004 п. 3.1)."""
    name = regulation.programme_name if regulation is not None else ""
    if not name:
        return
    for select_field in (form.voucher_source, form.payer):
        select_field.choices = [(code, f"{label} ({name})" if code == "union_programme" else label)
                                for code, label in select_field.choices]


@bp.route("/aid/petitions/new", methods=["GET", "POST"])
@policy.requires(policy.Permission.FILE_AID)
def petition_new():
    """The chair's petition: filled from the registry, with the amount and every problem shown before filing.

    While the member's region has no regulation in force, the page says so (which region, who fixes it) and filing
    is refused on the form itself (200, everything typed kept): a missing regulation is not the chair's mistake."""
    if not _can_file():
        abort(404)
    form = PetitionForm()
    form.member_id.choices = _member_choices()
    if request.method == "GET":
        if request.args.get("member_id"):
            form.member_id.data = request.args.get("member_id")
        form.profcom_decision_date.data = form.profcom_decision_date.data or today()
    member = _chosen_member(form.member_id.data)
    region = ops.region_of(current_user.org)
    regulation = ops.current_regulation(region)
    _name_programme(form, regulation)
    no_regulation = None if regulation is not None else ops.no_regulation_message(region)
    quote, status = None, 200
    if request.method == "POST":
        valid = form.validate_on_submit()
        quote = _quote_json(member, form)
        if request.form.get("do") == "file":
            status = 422
        if request.form.get("do") == "file" and no_regulation:
            status = 200  # refused at the form: the page says why, nothing typed is lost
        elif request.form.get("do") == "file" and valid:
            if member is None:
                form.member_id.errors.append(gettext("Выберите члена Профсоюза своей организации."))
            else:
                try:
                    p = ops.file_petition(current_user, member, _treatment(form), form.profcom_decision_date.data,
                                          form.profcom_decision_number.data or "",
                                          (form.account_number.data or "").strip(), (form.bik.data or "").strip(),
                                          form.bank_name.data or "")
                    db.session.commit()
                except ops.AidError as e:
                    db.session.rollback()
                    flash(e.message, "danger")
                    status = 422
                else:
                    flash(gettext("Ходатайство %(number)s подано. Приложите копию отрывного талона или другой "
                                  "документ о прохождении лечения.", number=p.number), "success")
                    return redirect(url_for("aid.petition", petition_id=p.id))
    elif member is not None:
        quote = _quote_json(member, form)
    html = render_template("aid/petition_new.html", form=form, quote=quote, member=member, no_regulation=no_regulation)
    # The member list names every member of the organisation with a birth date: a list read, audited.
    audit.write("aid_member_choices", object_type="members", org_id=current_user.org_id,
                ids=[int(value) for value, _ in form.member_id.choices if value])
    audit.commit_read()
    return html, status


@bp.route("/aid/quote", methods=["POST"])
@policy.requires(policy.Permission.FILE_AID)
def quote():
    """The live amount and problems for the chair's form (JSON; CSRF-checked like every POST)."""
    if not _can_file():
        abort(404)
    form = PetitionForm()
    form.member_id.choices = _member_choices()
    form.validate()
    return jsonify(_quote_json(_chosen_member(form.member_id.data), form))


# ---- one petition --------------------------------------------------------------------------------------------


def _petition(petition_id) -> AidPetition:
    return policy.get_petition(current_user, petition_id)


@bp.route("/aid/petitions/<petition_id>")
@policy.requires(policy.Permission.VIEW_AID)
def petition(petition_id):
    """A petition: facts, amount (override marked), problems, documents, history, the user's possible actions."""
    return _render_petition(_petition(petition_id))


def _render_petition(p: AidPetition, status: int = 200, refused: str = "", refused_form=None, attachment_form=None):
    """The petition page; `refused_form` is a decision form sent back filled in with its messages (`refused` the
    action it was for), so a refused decision loses nothing that was typed."""
    actions = available(AID_PETITION, p, current_user)
    audit.record("aid_petition_view", object_type="aid_petitions", object_id=p.id, org_id=p.org_id,
                 member_id=p.member_id)
    db.session.commit()
    override = _override_details(p)
    forms = {"decision_form": DecisionForm(formdata=None, version=p.version, decision_date=today()),
             "override_form": OverrideForm(formdata=None, version=p.version, amount=str(p.amount)),
             "payment_form": PaymentForm(formdata=None, version=p.version, paid_on=today()),
             "action_form": ActionForm(formdata=None, version=p.version)}
    if refused_form is not None:
        forms[{"approve": "decision_form", "reject": "decision_form", "override": "override_form",
               "pay": "payment_form"}.get(refused, "action_form")] = refused_form
    return render_template(
        "aid/petition.html", p=p, wf=AID_PETITION, actions=actions, problems=ops.petition_problems(p),
        history=history(AID_PETITION, p), override=override, overdue=_is_overdue(p), refused=refused,
        attachment_form=attachment_form or AttachmentForm(formdata=None), can_attach=_can_attach(p), sources=rules.VOUCHER_SOURCES,
        payers=rules.PAYERS, patients=rules.PATIENTS, why_no_action=_why_no_action(p, actions), show_inputs=_shows_inputs(),
        **forms), status


def _why_no_action(p: AidPetition, actions) -> list[tuple[str, list[str]]]:
    """What keeps the user's own actions back (the review without the voucher stub: «приложите корешок путёвки»)."""
    return [(t.title, reasons) for t, reasons in withheld(AID_PETITION, p, current_user)]


def _shows_inputs() -> bool:
    """The inputs of the amount and their last changes are for those who check and decide: the regional office,
    the presidium and the regional chairman (the filer kept those inputs themself)."""
    return any(policy.has_permission(current_user, perm) for perm in (
        Permission.REVIEW_AID, Permission.DECIDE_AID, Permission.OVERRIDE_AID))


def _override_details(p: AidPetition) -> dict:
    import json

    if not p.is_override:
        return {}
    try:
        before, after = json.loads(p.override_before or "{}"), json.loads(p.override_after or "{}")
    except ValueError:
        before, after = {}, {}
    from portal.auth.models import User

    by = db.session.get(User, p.override_by_id) if p.override_by_id else None
    return {"before": before, "after": after, "by": by}


def _can_attach(p: AidPetition) -> bool:
    """The filing chair's organisation and the regional office add documents while the petition is open."""
    if p.state not in (PetitionState.FILED, PetitionState.REVIEWED):
        return False
    if current_user.org_id == p.org_id and policy.has_permission(current_user, Permission.FILE_AID):
        return True
    return policy.has_permission(current_user, Permission.REVIEW_AID) and not policy.is_central(current_user)


_FORMS = {"approve": DecisionForm, "reject": DecisionForm, "override": OverrideForm, "pay": PaymentForm,
          "review": ActionForm}


def _params(action: str, form) -> dict:
    if action in ("approve", "reject"):
        return {"decision_date": form.decision_date.data, "decision_number": form.decision_number.data or ""}
    if action == "override":
        return {"amount": form.amount.data or "", "conditions": form.conditions.data or ""}
    if action == "pay":
        return {"paid_on": form.paid_on.data, "payment_reference": form.payment_reference.data or ""}
    return {}


@bp.route("/aid/petitions/<petition_id>/<action>", methods=["POST"])
@policy.requires(policy.Permission.VIEW_AID)
def petition_action(petition_id, action):
    """Fire a transition: 409 for a (state, action) pair the workflow does not allow, or when someone was first."""
    p = _petition(petition_id)
    if action not in _FORMS:
        abort(404)
    form = _FORMS[action]()
    expected = _version(form)
    if expected is not None and expected != p.version:
        if ops.already_done_by(p, action, current_user):
            flash(gettext("Ходатайство %(number)s: ваше решение уже записано.", number=p.number), "info")
            return redirect(url_for("aid.petition", petition_id=p.id))
        abort(409, gettext("По этому ходатайству уже принято решение или оно изменилось, пока страница "
                           "была открыта. Обновите страницу."))
    # Not allowed now (state, role, a condition of the petition): 409 whatever was typed — there is no form to fix.
    blocking = problems(AID_PETITION, p, action, current_user, with_input=False)
    if blocking:
        abort(409, blocking[0])
    if not form.validate_on_submit():
        # A missing or malformed field: the page again with the form as typed and the message next to the field.
        return _render_petition(p, 422, action, form)
    try:
        ops.act(p, action, current_user, params=_params(action, form), comment=getattr(form, "comment", None) and form.comment.data or "",
                expected_version=expected)
        db.session.commit()
    except WorkflowError as e:
        db.session.rollback()
        if not e.is_input:  # not allowed now, or someone else was first: nothing to correct in the form
            abort(e.status, e.message)
        form.add_errors(e.field_errors())
        return _render_petition(_petition(petition_id), 422, action, form)
    flash(gettext("Ходатайство %(number)s: %(state)s.", number=p.number, state=gettext(AID_PETITION.state_title(p))),
          "success")
    return redirect(url_for("aid.petition", petition_id=p.id))


# ---- documents of a petition -----------------------------------------------------------------------------------


@bp.route("/aid/petitions/<petition_id>/attachments", methods=["POST"])
@policy.requires(policy.Permission.VIEW_AID)
def attachment_add(petition_id):
    """Attach a document (PDF, JPEG or PNG by content, size-limited)."""
    p = _petition(petition_id)
    if not _can_attach(p):
        abort(404 if p.state in (PetitionState.FILED, PetitionState.REVIEWED) else 409,
              gettext("Документы прикладываются, пока ходатайство на рассмотрении."))
    form = AttachmentForm()
    if not form.validate_on_submit():  # no file chosen: the page again with the message by the field
        return _render_petition(p, 422, attachment_form=form)
    try:
        ops.add_attachment(p, current_user, form.file.data, AttachmentKind(form.kind.data))
        db.session.commit()
    except ops.AidError as e:  # not a PDF/JPEG/PNG, too big: said next to the file field, the kind kept
        db.session.rollback()
        form.add_errors({"file": [e.message]})
        return _render_petition(_petition(petition_id), 422, attachment_form=form)
    flash(gettext("Документ приложен."), "success")
    return redirect(url_for("aid.petition", petition_id=p.id))


@bp.route("/aid/petitions/<petition_id>/attachments/<attachment_id>")
@policy.requires(policy.Permission.VIEW_AID)
def attachment(petition_id, attachment_id):
    """Download an attached document (as an attachment, nosniff), only within the petition's scope."""
    p = _petition(petition_id)
    att_id = policy.parse_id(attachment_id)
    att = db.session.get(PetitionAttachment, att_id) if att_id else None
    if att is None or att.petition_id != p.id:
        if att is not None:
            owner = db.session.get(AidPetition, att.petition_id)
            policy.deny_if_foreign(current_user, PetitionAttachment.__tablename__, att.id, owner.org if owner else None)
        if att_id is not None:  # missing or under another petition: audited alike, so answered in the same time
            policy.abort_not_found(PetitionAttachment.__tablename__, att_id, user=current_user, missing=True)
        abort(404)
    audit.record("aid_attachment_download", object_type="aid_petitions", object_id=p.id, org_id=p.org_id,
                 attachment_id=att.id)
    db.session.commit()
    try:
        return send_stored(ops.ATTACHMENT_AREA, att.stored_name, f"{p.number}-{att.kind.value}-{att.id}.{att.file_type}")
    except FileNotFoundError:
        abort(404)


def _document(p: AidPetition, fmt: str):
    from portal.documents import aid as docs

    doc = ops.petition_doc(p)
    data = docs.petition_docx(doc) if fmt == "docx" else docs.petition_pdf(doc)
    audit.record("aid_petition_document", object_type="aid_petitions", object_id=p.id, org_id=p.org_id, fmt=fmt)
    db.session.commit()
    return send_bytes(data, fmt, f"hodataystvo-{p.id}.{fmt}")


@bp.route("/aid/petitions/<petition_id>/petition.docx")
@policy.requires(policy.Permission.VIEW_AID)
def petition_docx(petition_id):
    """Form No. 1 (the petition) as DOCX."""
    return _document(_petition(petition_id), "docx")


@bp.route("/aid/petitions/<petition_id>/petition.pdf")
@policy.requires(policy.Permission.VIEW_AID)
def petition_pdf(petition_id):
    """Form No. 1 (the petition) as PDF."""
    return _document(_petition(petition_id), "pdf")


@bp.route("/aid/petitions/<petition_id>/card-copy.pdf")
@policy.requires(policy.Permission.VIEW_AID)
def card_copy(petition_id):
    """The member card copy (генерируется из реестра) for the petition's documents."""
    from portal.documents.member_card import member_card_pdf

    p = _petition(petition_id)
    data = member_card_pdf(p.member)
    audit.record("member_card_copy", p.member, via="aid_petition", petition_id=p.id)
    db.session.commit()
    return send_bytes(data, "pdf", f"kartochka-{p.member_id}.pdf")


# ---- the presidium's queue -------------------------------------------------------------------------------------


@bp.route("/aid/queue")
@policy.requires(policy.Permission.DECIDE_AID)
def queue():
    """Reviewed petitions of the region with their amounts and problems, to decide one or many at once."""
    _require(Permission.DECIDE_AID)
    return _render_queue(DecisionForm(formdata=None, decision_date=today()))


def _render_queue(form: DecisionForm, status: int = 200):
    """The queue page; a refused decision comes back in `form` as typed, with the ticks kept."""
    rows = db.session.scalars(select(AidPetition).where(policy.aid_scope(current_user),
                                                        AidPetition.state == PetitionState.REVIEWED)
                              .order_by(AidPetition.filed_on, AidPetition.id).limit(500)).all()
    problems = {p.id: ops.petition_problems(p) for p in rows}
    audit.record("aid_queue_view", object_type="aid_petitions", org_id=current_user.org_id, ids=[p.id for p in rows])
    db.session.commit()
    return render_template("aid/queue.html", rows=rows, problems=problems, form=form,
                           ticked=_ticked_ids()), status


def _ticked_ids() -> set[int]:
    return {pid for raw in request.form.getlist("petition_ids")[:500] if (pid := policy.parse_id(raw)) is not None}


def _ticked() -> list[tuple[AidPetition, int | None]]:
    """The ticked petitions (in the user's scope) with the versions the page showed."""
    out = []
    for raw in request.form.getlist("petition_ids")[:500]:
        pid = policy.parse_id(raw)
        if pid is None:
            continue
        p = db.session.get(AidPetition, pid)
        if p is None or not policy.petition_in_scope(current_user, p):
            continue
        v = request.form.get(f"version_{pid}", "")
        out.append((p, int(v) if v.isdigit() and len(v) < 10 else None))
    return out


def _many(action: str, params: dict, comment: str, back: str, form, render):
    """Apply one action to each ticked petition in its own transaction; report each outcome.

    No petition ticked, or every one refused only for what was typed (a date before the decision, no reason for a
    refusal): the page again with the form as typed and the messages next to its fields (422). Nothing recorded
    for any other reason (every petition not allowed now or already decided by someone else) answers 409.
    """
    ticked = _ticked()
    if not ticked:
        form.add_errors({"": [gettext("Отметьте ходатайства.")]})
        return render(form, 422)
    done, refused, typed = [], [], []
    for p, version in ticked:
        number = p.number
        try:
            ops.act(p, action, current_user, params=params, comment=comment, expected_version=version)
            db.session.commit()
            done.append(number)
        except WorkflowError as e:  # WorkflowConflict included: someone decided it first
            db.session.rollback()
            refused.append(f"{number}: {e.message}")
            if e.is_input:
                typed.append(e)
    if not done and len(typed) == len(refused):
        for e in typed[:1]:  # the same input refused for each: said once, next to its field
            form.add_errors(e.field_errors())
        return render(form, 422)
    if not done:
        return render_template("error.html", code=409, message=gettext("Ничего не записано. %(reasons)s",
                                                                               reasons=" ".join(refused[:20]))), 409
    flash(gettext("Записано по ходатайствам: %(numbers)s.", numbers=", ".join(done)), "success")
    if refused:
        flash(gettext("Не записано: %(reasons)s", reasons=" ".join(refused[:20])), "danger")
    return redirect(url_for(back))


@bp.route("/aid/queue", methods=["POST"])
@policy.requires(policy.Permission.DECIDE_AID)
def queue_decide():
    """Decide the ticked petitions at one meeting: each decision recorded per petition with the date and number."""
    _require(Permission.DECIDE_AID)
    form = DecisionForm()
    action = request.form.get("do")
    if action not in ("approve", "reject"):
        abort(400, gettext("Выберите решение: оказать помощь или отказать."))
    if not form.validate_on_submit():
        return _render_queue(form, 422)
    params = {"decision_date": form.decision_date.data, "decision_number": form.decision_number.data or ""}
    return _many(action, params, form.comment.data or "", "aid.queue", form, _render_queue)


# ---- the accountant -------------------------------------------------------------------------------------------


@bp.route("/aid/payments")
@policy.requires(policy.Permission.PAY_AID)
def payments():
    """Approved petitions waiting for payment; the register to export; marking them paid."""
    _require(Permission.PAY_AID)
    return _render_payments(PaymentForm(formdata=None, paid_on=today()))


def _render_payments(form: PaymentForm, status: int = 200):
    """The payments page; a refused payment comes back in `form` as typed, with the ticks kept."""
    rows = _approved()
    audit.record("aid_payments_view", object_type="aid_petitions", org_id=current_user.org_id,
                 ids=[p.id for p in rows])
    db.session.commit()
    return render_template("aid/payments.html", rows=rows, form=form, ticked=_ticked_ids()), status


def _approved() -> list[AidPetition]:
    return list(db.session.scalars(select(AidPetition).where(policy.aid_scope(current_user),
                                                             AidPetition.state == PetitionState.APPROVED)
                                   .order_by(AidPetition.id).limit(2000)))


@bp.route("/aid/payments/register.xlsx")
@policy.requires(policy.Permission.PAY_AID)
def payment_register():
    """The payment register of approved petitions (XLSX)."""
    from portal.documents.aid import payment_register_xlsx

    _require(Permission.PAY_AID)
    rows = _approved()
    region = _user_region()
    data = payment_register_xlsx(ops.register_rows(rows), region.name if region else "Все регионы", today())
    audit.record("aid_register_export", object_type="aid_petitions", org_id=current_user.org_id,
                 ids=[p.id for p in rows], member_ids=[p.member_id for p in rows])
    db.session.commit()
    return send_bytes(data, "xlsx", f"reestr-{today():%Y%m%d}.xlsx")


@bp.route("/aid/payments", methods=["POST"])
@policy.requires(policy.Permission.PAY_AID)
def payments_mark():
    """Mark the ticked petitions paid with the payment date and reference."""
    _require(Permission.PAY_AID)
    form = PaymentForm()
    if not form.validate_on_submit():
        return _render_payments(form, 422)
    params = {"paid_on": form.paid_on.data, "payment_reference": form.payment_reference.data or ""}
    return _many("pay", params, "", "aid.payments", form, _render_payments)


# ---- the regulation --------------------------------------------------------------------------------------------


def _regulation_region() -> Organisation:
    """The region whose regulation the page shows: the user's own, or (central) the one asked for."""
    if policy.is_central(current_user):
        org_id = request.args.get("org_id") or request.form.get("org_id")
        if org_id:
            region = policy.get_org(current_user, org_id)
            if region.level == OrgLevel.REGIONAL:
                return region
        abort(404)
    region = _user_region()
    if region is None:
        abort(404)
    return region


def _regions() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).where(Organisation.level == OrgLevel.REGIONAL)
                                   .order_by(Organisation.name)))


@bp.route("/aid/regulation")
@policy.requires(policy.Permission.VIEW_AID)
def regulation():
    """The regulation in force in the region, as a table, with its earlier versions."""
    _require(Permission.VIEW_AID)
    if policy.is_central(current_user) and not request.args.get("org_id"):
        return render_template("aid/regions.html", regions=_regions())
    region = _regulation_region()
    current = ops.current_regulation(region)
    return _render_regulation(region, current)


@bp.route("/aid/regulations/<regulation_id>")
@policy.requires(policy.Permission.VIEW_AID)
def regulation_version(regulation_id):
    """One version of a region's regulation."""
    _require(Permission.VIEW_AID)
    reg_id = policy.parse_id(regulation_id)
    reg = db.session.get(AidRegulation, reg_id) if reg_id else None
    if reg is None:
        if reg_id is not None:
            policy.abort_not_found("aid_regulations", reg_id, user=current_user, missing=True)
        abort(404)
    if not (policy.is_central(current_user) or ops.region_of(current_user.org) == reg.org):
        policy.abort_not_found("aid_regulations", reg.id, user=current_user)
    return _render_regulation(reg.org, reg)


def _can_edit_regulation(region: Organisation) -> bool:
    return policy.has_permission(current_user, Permission.EDIT_AID_REGULATION) and policy.org_in_scope(
        current_user, region)


def _render_regulation(region, reg):
    value = reg.to_rules() if reg else None
    return render_template("aid/regulation.html", region=region, reg=reg, value=value,
                           versions=ops.regulation_versions(region), can_edit=_can_edit_regulation(region),
                           sources=rules.VOUCHER_SOURCES, payers=rules.PAYERS, today=today())


@bp.route("/aid/regulation/edit", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_AID_REGULATION)
def regulation_edit():
    """A new version of the region's regulation (a used version is never edited in place)."""
    region = _regulation_region()
    if not _can_edit_regulation(region):
        abort(404)
    current = ops.current_regulation(region) or (ops.regulation_versions(region) or [None])[0]
    form = RegulationForm()
    if request.method == "GET":
        # A region without a regulation starts from the template (seed 004's table, its own addressee), never
        # from another region's regulation.
        value = current.to_rules() if current else ops.regulation_template(region)
        form = RegulationForm(formdata=None, title=value.title, valid_from=today(), addressee=value.addressee,
                              programme_name=value.programme_name,
                              level_base_max=str(value.level_base_max), level_full=str(value.level_full),
                              min_tenure_years=value.min_tenure_years, min_stay_days=value.min_stay_days,
                              repeat_interval_days=value.repeat_interval_days,
                              bands=[{"min_years": b.min_years, "max_years": b.max_years, "base": str(b.base),
                                      "above": str(b.above), "full": str(b.full)} for b in value.bands])
        while len(form.bands) < 10:
            form.bands.append_entry()
        excluded, payers = set(value.excluded_sources), set(value.allowed_payers)
    else:
        excluded = set(request.form.getlist("excluded")) & set(rules.VOUCHER_SOURCES)
        payers = set(request.form.getlist("payers")) & set(rules.PAYERS)
        if form.validate_on_submit():
            try:
                value = _regulation_value(form, excluded, payers)
                reg = ops.save_regulation(current_user, region, value, form.valid_from.data, form.valid_to.data,
                                          form.approved_by.data or "")
                db.session.commit()
            except ops.AidError as e:
                db.session.rollback()
                flash(e.message, "danger")
            else:
                flash(gettext("Записана редакция № %(version)s. Ходатайства, поданные раньше, считаются по своей.",
                              version=reg.version), "success")
                return redirect(url_for("aid.regulation_version", regulation_id=reg.id))
    return render_template("aid/regulation_edit.html", form=form, region=region, current=current,
                           sources=rules.VOUCHER_SOURCES, payers=rules.PAYERS, excluded=excluded,
                           allowed=payers), (200 if request.method == "GET" else 422)


def _decimal(text: str, what: str) -> Decimal:
    value = (text or "").strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ops.AidError(gettext("%(what)s: введите число.", what=what)) from None
    if not number.is_finite() or number < 0 or number > Decimal("10000000") or number.as_tuple().exponent < -2:
        raise ops.AidError(gettext("%(what)s: неотрицательное число, не больше двух знаков после запятой.", what=what))
    return number


def _regulation_value(form: RegulationForm, excluded: set[str], payers: set[str]) -> rules.Regulation:
    bands = []
    for entry in form.bands:
        row = entry.form
        if row.min_years.data is None and not (row.base.data or "").strip():
            continue
        if row.min_years.data is None:
            raise ops.AidError(gettext("В каждой строке таблицы укажите, с какого стажа она действует."))
        label = gettext("Строка «от %(years)s лет»", years=row.min_years.data)
        bands.append(rules.Band(row.min_years.data, row.max_years.data,
                                _decimal(row.base.data, label).quantize(Decimal("0.01")),
                                _decimal(row.above.data or row.base.data, label).quantize(Decimal("0.01")),
                                _decimal(row.full.data or row.base.data, label).quantize(Decimal("0.01"))))
    bands.sort(key=lambda b: b.min_years)
    if not payers:
        raise ops.AidError(gettext("Отметьте хотя бы одного допустимого плательщика."))
    return rules.Regulation(
        bands=tuple(bands), level_base_max=_decimal(form.level_base_max.data, gettext("Порог уровня членства")),
        level_full=_decimal(form.level_full.data, gettext("Уровень полной надбавки")),
        min_tenure_years=form.min_tenure_years.data, min_stay_days=form.min_stay_days.data,
        repeat_interval_days=form.repeat_interval_days.data,
        excluded_sources=tuple(s for s in rules.VOUCHER_SOURCES if s in excluded),
        allowed_payers=tuple(s for s in rules.PAYERS if s in payers), title=form.title.data.strip(),
        addressee="\n".join(line.strip() for line in (form.addressee.data or "").splitlines() if line.strip()),
        programme_name=" ".join((form.programme_name.data or "").split()))


__all__ = ["bp", "parse_amount"]
