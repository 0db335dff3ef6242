"""Card requests and cards: the chair's draft and submission, the regional office's shipments and overdue list,
handing cards over (ВЫДАН), lost/blocked/reissued, production batches, and the member card copy."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from forms import BaseForm
from portal import audit, policy
from portal.cards import operations as ops
from portal.cards.models import Card, CardRequest, CardRequestItem, ProductionBatch, RequestState
from portal.clock import today
from portal.extensions import db
from portal.files import send_bytes, send_stored
from portal.policy import Permission
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus, Organisation, OrgLevel
from workflows import CARD, CARD_REQUEST, WorkflowError, available, fire, history, withheld

bp = Blueprint("cards", __name__)


class ActionForm(BaseForm):
    """One form for every workflow button: optional date, tracking number and comment."""

    on_date = DateField(lazy_gettext("Дата"), validators=[Optional()])
    tracking_number = StringField(lazy_gettext("Номер почтового отправления"), validators=[Optional(), Length(max=40)])
    comment = TextAreaField(lazy_gettext("Комментарий"), validators=[Optional(), Length(max=2000)])


class ShipForm(ActionForm):
    """The regional office's shipment: the tracking number and the date are required."""

    on_date = DateField(lazy_gettext("Дата отправки"), validators=[DataRequired(lazy_gettext("Дата в формате ДД.ММ.ГГГГ."))])
    tracking_number = StringField(lazy_gettext("Номер почтового отправления"),
                                  validators=[DataRequired(lazy_gettext("Обязательное поле.")), Length(max=40)])


class ReceiveForm(ActionForm):
    """The regional office's record that the shipment arrived: its date is required."""

    on_date = DateField(lazy_gettext("Дата получения"), validators=[DataRequired(lazy_gettext("Дата в формате ДД.ММ.ГГГГ."))])


class HandOverForm(BaseForm):
    """«Выдан» for many cards of a request at once (seed 002 step 10): one date for all."""

    on_date = DateField(lazy_gettext("Дата выдачи"), validators=[DataRequired(lazy_gettext("Дата в формате ДД.ММ.ГГГГ."))])


ACTION_FORMS = {"ship": ShipForm, "receive": ReceiveForm}

policy.staff_only(bp)


def _request(req_id) -> CardRequest:
    """The card request if its organisation is in the user's scope; 404 otherwise."""
    return policy.get_scoped(current_user, CardRequest, req_id, lambda r: r.org)


@bp.route("/orgs/<org_id>/card-requests")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def requests_list(org_id):
    """Card requests of the organisation and those below it; the regional office sees which are overdue."""
    org = policy.get_org(current_user, org_id)
    q = select(CardRequest).join(Organisation, CardRequest.org_id == Organisation.id)
    if org.level == OrgLevel.PRIMARY:
        q = q.where(CardRequest.org_id == org.id)
    else:
        q = q.where(Organisation.path.like(org.path + "%"))
    state = request.args.get("state", "")
    if request.args.get("overdue"):
        q = q.where(ops.overdue_condition(today()))
    elif state:
        try:
            q = q.where(CardRequest.state == RequestState(state))
        except ValueError:
            abort(400, gettext("Неизвестное состояние заявки."))
    rows = db.session.scalars(q.order_by(CardRequest.id.desc()).limit(300)).all()
    counts = dict(db.session.execute(select(CardRequestItem.request_id, func.count()).where(
        CardRequestItem.request_id.in_([r.id for r in rows] or [0])).group_by(CardRequestItem.request_id)).all())
    overdue = {r.id for r in rows if r.state == RequestState.PROCESSED and r.processed_on
               and (today() - r.processed_on).days > ops.SHIP_DAYS}
    return render_template("cards/requests.html", org=org, rows=rows, counts=counts, overdue=overdue,
                           states=RequestState, state=state, form=ActionForm())


@bp.route("/orgs/<org_id>/card-requests", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def request_new(org_id):
    """Open a draft request for a primary (or return to the open one)."""
    org = policy.get_org(current_user, org_id)
    if org.level != OrgLevel.PRIMARY or not policy.has_permission(current_user, Permission.EDIT_MEMBERS):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    req = ops.draft_for(org, current_user)
    db.session.commit()
    return redirect(url_for("cards.request_page", req_id=req.id))


@bp.route("/orgs/<org_id>/card-requests/add", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def add_to_request(org_id):
    """Add the members ticked in the member list to the organisation's draft request."""
    org = policy.get_org(current_user, org_id)
    if org.level != OrgLevel.PRIMARY or not policy.has_permission(current_user, Permission.EDIT_MEMBERS):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    ids = [int(x) for x in request.form.getlist("member_ids") if x.isdigit()]
    if not ids:
        flash(gettext("Отметьте членов Профсоюза, которых нужно включить в заявку."), "warning")
        return redirect(url_for("registry.members", org_id=org.id))
    members = db.session.scalars(select(Member).where(Member.id.in_(ids), policy.member_scope(current_user))).all()
    req = ops.draft_for(org, current_user)
    added, refused = ops.add_members(req, members)
    db.session.commit()
    _report_added(added, refused)
    return redirect(url_for("cards.request_page", req_id=req.id))


def _report_added(added: int, refused: list[str]) -> None:
    if added:
        flash(gettext("В заявку добавлено: %(n)s.", n=added), "success")
    if refused:
        flash(gettext("Не добавлены: %(reasons)s",
                      reasons="; ".join(refused[:10]) + ("…" if len(refused) > 10 else "")), "warning")


@bp.route("/card-requests/<req_id>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def request_page(req_id):
    """A card request: its members and cards, state, history, and what the user may do now."""
    return _render_request(_request(req_id))


def _render_request(req: CardRequest, form: ActionForm | None = None, status: int = 200,
                    hand_over_form: HandOverForm | None = None, report=None, ticked=frozenset()):
    """The request page; `form` is a refused action's form (the shipment's tracking number) sent back as typed,
    `report` the per-card outcome of a bulk «выдан»."""
    actions = [t for t in available(CARD_REQUEST, req, current_user)]
    eligible = []
    if req.state == RequestState.DRAFT and policy.has_permission(current_user, Permission.EDIT_MEMBERS):
        in_req = {i.member_id for i in req.items}
        eligible = [m for m in db.session.scalars(
            select(Member).where(Member.org_id == req.org_id, Member.status == MemberStatus.ACTIVE,
                                 Member.consent_status.in_([ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED]),
                                 Member.card_status.in_([CardStatus.NOT_ORDERED, CardStatus.REISSUED]))
            .order_by(Member.last_name_folded).limit(500)) if m.id not in in_req]
    card_actions = {item.card.id: available(CARD, item.card, current_user) for item in req.items if item.card}
    html = render_template("cards/request.html", req=req, actions=actions, eligible=eligible,
                           card_actions=card_actions, history=history(CARD_REQUEST, req), wf=CARD_REQUEST,
                           form=form or ActionForm(formdata=None, on_date=today()),
                           ship_form=form if isinstance(form, ShipForm) else ShipForm(formdata=None, on_date=today()),
                           receive_form=(form if isinstance(form, ReceiveForm)
                                         else ReceiveForm(formdata=None, on_date=today())),
                           hand_over_form=hand_over_form or HandOverForm(formdata=None, on_date=today()),
                           report=report or [], ticked=ticked,
                           overdue=req.id in _overdue_ids([req]),
                           withheld=[(t.title, why) for t, why in withheld(CARD_REQUEST, req, current_user)])
    # The page lists members by name (in the request and those who could be added): a list read, audited.
    audit.write("card_request_read", object_type="card_requests", object_id=req.id, org_id=req.org_id,
                ids=sorted({i.member_id for i in req.items} | {m.id for m in eligible}))
    audit.commit_read()
    return html, status


def _overdue_ids(reqs) -> set[int]:
    return {r.id for r in reqs if r.state == RequestState.PROCESSED and r.processed_on
            and (today() - r.processed_on).days > ops.SHIP_DAYS}


@bp.route("/card-requests/<req_id>/items", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def request_add(req_id):
    """Add members (ticked on the request page) to a draft."""
    req = _request(req_id)
    if not policy.has_permission(current_user, Permission.EDIT_MEMBERS) or not ActionForm().validate_on_submit():
        abort(404)
    ids = [int(x) for x in request.form.getlist("member_ids") if x.isdigit()]
    members = db.session.scalars(select(Member).where(Member.id.in_(ids or [0]),
                                                      policy.member_scope(current_user))).all()
    added, refused = ops.add_members(req, members)
    if req.state != RequestState.DRAFT:
        abort(409, gettext("В отправленную заявку добавлять нельзя."))
    db.session.commit()
    _report_added(added, refused)
    return redirect(url_for("cards.request_page", req_id=req.id))


@bp.route("/card-requests/<req_id>/hand-over", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def request_hand_over(req_id):
    """Mark the ticked cards of a request ВЫДАН at once, with one date (seed 002 step 10).

    Each card goes through the card workflow's own `hand_over` (a card the region has not marked received, or of a
    member who left, is refused with its reason and stops nobody else), each in its own transaction; the page shows
    a per-card report. Without a date or a tick the page comes back with the form as typed (422). A card outside
    this request or the user's scope answers 404 like a missing one, and nothing is recorded.
    """
    req = _request(req_id)
    form = HandOverForm()
    ids = list(dict.fromkeys(int(x) for x in request.form.getlist("card_ids")[:1000] if x.isdigit()))
    cards = db.session.scalars(select(Card).where(Card.id.in_(ids or [0]), Card.request_id == req.id)
                               .order_by(Card.id)).all()
    if len(cards) != len(ids):
        abort(404)
    valid = form.validate_on_submit()
    if not ids:
        form.add_errors({"": [gettext("Отметьте карты, которые выданы.")]})
        valid = False
    if not valid:
        return _render_request(req, status=422, hand_over_form=form, ticked=frozenset(ids))
    report = []
    for card_id in ids:
        card = db.session.get(Card, card_id)
        name = card.member.full_name
        try:
            fire(CARD, card, "hand_over", current_user, params={"on_date": form.on_date.data})
            audit.record("card_hand_over", object_type="cards", object_id=card.id, org_id=card.member.org_id,
                         card=card.number, bulk=True)
            db.session.commit()
            report.append((name, True, gettext("ВЫДАН")))
        except WorkflowError as e:
            db.session.rollback()
            report.append((name, False, e.message))
    done = sum(1 for r in report if r[1])
    if done:
        flash(gettext("Отмечено «ВЫДАН»: %(n)s из %(total)s.", n=done, total=len(report)), "success")
    return _render_request(_request(req_id), hand_over_form=form, report=report)


@bp.route("/card-requests/<req_id>/items/<int:member_id>/remove", methods=["POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def request_remove(req_id, member_id: int):
    """Take a member out of a draft."""
    req = _request(req_id)
    if not policy.has_permission(current_user, Permission.EDIT_MEMBERS) or not ActionForm().validate_on_submit():
        abort(404)
    if not ops.remove_member(req, member_id):
        abort(409, gettext("Из отправленной заявки убирать нельзя."))
    db.session.commit()
    return redirect(url_for("cards.request_page", req_id=req.id))


@bp.route("/card-requests/<req_id>/<action>", methods=["POST"])
@policy.requires(policy.Permission.VIEW_REGISTRY)
def request_action(req_id, action):
    """Fire a request transition (submit, cancel, ship); anything not allowed answers 409 and changes nothing."""
    req = _request(req_id)
    form = ACTION_FORMS.get(action, ActionForm)()
    if action not in CARD_REQUEST.transitions:
        abort(404)
    if not form.validate_on_submit():
        return _render_request(req, form, 422)
    try:
        fire(CARD_REQUEST, req, action, current_user, comment=form.comment.data or "",
             params={"on_date": form.on_date.data, "tracking_number": form.tracking_number.data or ""})
        audit.record("card_request_" + action, object_type="card_requests", object_id=req.id, org_id=req.org_id)
        # Said before the commit, which expires the request (reading it afterwards would load it again).
        done = gettext("Заявка № %(id)s: %(state)s.", id=req.id, state=gettext(CARD_REQUEST.state_title(req)))
        target = url_for("cards.request_page", req_id=req.id)
        db.session.commit()
    except WorkflowError as e:
        db.session.rollback()
        if not e.is_input:
            abort(e.status, e.message)
        form.add_errors(e.field_errors())
        return _render_request(_request(req_id), form, 422)
    flash(done, "success")
    return redirect(target)


@bp.route("/cards/<card_id>/<action>", methods=["POST"])
@policy.requires(policy.Permission.VIEW_REGISTRY)
def card_action(card_id, action):
    """Hand a card over (ВЫДАН), mark it lost, block it, or reissue it."""
    card = policy.get_scoped(current_user, Card, card_id, lambda c: c.member.org)
    form = ActionForm()
    if action not in CARD.transitions:
        abort(404)
    if not form.validate_on_submit():
        return _card_refused(card, form)
    try:
        fire(CARD, card, action, current_user, comment=form.comment.data or "",
             params={"on_date": form.on_date.data or today()})
        audit.record("card_" + action, object_type="cards", object_id=card.id, org_id=card.member.org_id,
                     card=card.number)
        db.session.commit()
    except WorkflowError as e:
        db.session.rollback()
        if not e.is_input:
            abort(e.status, e.message)
        form.add_errors(e.field_errors())
        return _card_refused(policy.get_scoped(current_user, Card, card_id, lambda c: c.member.org), form)
    flash(gettext("%(name)s: билет %(state)s.", name=card.member.short_name,
                  state=gettext(CARD.states[card.state.value].title)),
          "success")
    target = request.form.get("back")
    if target == "member":
        return redirect(url_for("registry.member", member_id=card.member_id))
    if card.request_id:
        return redirect(url_for("cards.request_page", req_id=card.request_id))
    return redirect(url_for("registry.member", member_id=card.member_id))


def _card_refused(card: Card, form: ActionForm):
    """A card action refused for what was typed (a loss without its reason): the request page again with the
    message (422), or back to the member card when the card belongs to no request."""
    if card.request_id:
        req = db.session.get(CardRequest, card.request_id)
        form.add_errors({"": [e for errs in form.errors.values() for e in errs if isinstance(e, str)]}
                        if not form.form_errors else {})
        return _render_request(req, form, 422)
    for errs in form.errors.values():
        for e in errs:
            flash(str(e), "danger")
    return redirect(url_for("registry.member", member_id=card.member_id), 303)


@bp.route("/card-batches")
@policy.requires(policy.Permission.BACK_OFFICE)
def batches():
    """Production batches (each 1st and 15th) with the producer's manifests — central office only."""
    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    rows = db.session.scalars(select(ProductionBatch).order_by(ProductionBatch.id.desc()).limit(200)).all()
    return render_template("cards/batches.html", rows=rows)


@bp.route("/card-batches/<int:batch_id>/manifest.<fmt>")
@policy.requires(policy.Permission.BACK_OFFICE)
def manifest(batch_id: int, fmt: str):
    """The producer's manifest of a batch, without anyone who has withdrawn consent since — central office only."""
    if not (policy.has_permission(current_user, Permission.BACK_OFFICE) and policy.is_central(current_user)):
        abort(404)
    batch = db.session.get(ProductionBatch, batch_id)
    if batch is None or fmt not in ("xlsx", "csv"):
        abort(404)
    from portal.jobs.retention import strip_before_download

    strip_before_download()  # a withdrawal since the last night leaves the manifest before it is served
    # The manifest names every member of the batch: the download is audited with their ids.
    member_ids = sorted(db.session.scalars(select(Card.member_id).join(CardRequest, Card.request_id == CardRequest.id)
                                           .where(CardRequest.batch_id == batch.id)))
    audit.record("manifest_download", object_type="production_batches", object_id=batch.id, fmt=fmt, ids=member_ids)
    db.session.commit()
    name = batch.manifest_xlsx if fmt == "xlsx" else batch.manifest_csv
    return send_stored(ops.MANIFEST_AREA, name, name)


@bp.route("/members/<member_id>/card-copy.pdf")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def member_card_copy(member_id):
    """The member card copy (профсоюзная карточка) as PDF."""
    from portal import documents

    m = policy.get_member(current_user, member_id)
    data = documents.member_card_pdf(m)
    audit.record("member_card_copy", m)
    db.session.commit()
    return send_bytes(data, "pdf", f"kartochka-{m.id}.pdf")


