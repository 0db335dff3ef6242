"""The chair's workplace: organisation page and passport, the tree, members (list, search, card, events), checklist.

Every view loads its object through `portal.policy` (404 for missing and foreign alike), checks the permission,
validates a form and calls one operation from `portal.registry.operations`.
"""

from __future__ import annotations

import math
from datetime import date
from typing import NamedTuple
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import and_, case, func, select

from forms.registry import (
    CorrectionAnswerForm,
    CorrectionForm,
    EventForm,
    JoinedOnCorrectionForm,
    MemberForm,
    PassportForm,
    TransferForm,
)
from portal import audit, policy
from portal.extensions import db
from portal.policy import Permission
from portal.registry import operations as ops
from portal.registry.models import (
    CardStatus,
    Category,
    ConsentStatus,
    CorrectionRequest,
    CorrectionStatus,
    DuesForm,
    EventKind,
    Member,
    MemberCorrection,
    MemberStatus,
    Organisation,
    OrgLevel,
)
from portal.registry.queries import FILTERS, SORTS, search_condition

bp = Blueprint("registry", __name__)


policy.staff_only(bp)


def _require(permission: str) -> None:
    policy.require(current_user, permission)


@bp.route("/")
@policy.requires(policy.LOGGED_IN)
def home():
    """Start page: the user's own organisation with its checklist (material aid for the presidium and accountant)."""
    if not policy.has_permission(current_user, Permission.VIEW_REGISTRY) and policy.has_permission(
            current_user, Permission.VIEW_AID):
        return redirect(url_for("aid.index"))
    return redirect(url_for("registry.org", org_id=current_user.org_id))


# ---- organisation --------------------------------------------------------------------------------------------


def _subtree_member_filter(org: Organisation):
    if org.level == OrgLevel.PRIMARY:
        return Member.org_id == org.id
    return Member.org_id.in_(select(Organisation.id).where(Organisation.path.like(org.path + "%")))


def checklist(org: Organisation) -> dict:
    """Live counts for the start-of-work checklist of seed 002 (steps 4–10), for the organisation's subtree."""
    active = Member.status == MemberStatus.ACTIVE
    consented = Member.consent_status.in_([ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED])
    ordered = Member.card_status != CardStatus.NOT_ORDERED
    row = db.session.execute(
        select(
            func.count(),
            func.sum(case((consented, 1), else_=0)),
            func.sum(case((and_(consented, ordered), 1), else_=0)),
            func.sum(case((Member.card_status == CardStatus.ISSUED, 1), else_=0)),
            func.sum(case((and_(Member.phone == "", Member.email == ""), 1), else_=0)),
        ).where(_subtree_member_filter(org), active)
    ).one()
    members, consents, cards_ordered, cards_issued, no_contacts = (int(x or 0) for x in row)
    potential = potential_members(org)
    over_staff = bool(potential) and members > potential
    missing = org.passport_missing()
    steps = [
        {"key": "passport", "title": gettext("Паспорт организации заполнен"), "done": not missing,
         "detail": gettext("всё заполнено") if not missing else gettext("не заполнено полей: %(n)s", n=len(missing)),
         "url": url_for("registry.passport", org_id=org.id)},
        # More members than staff is a data problem (issue 13), never «done»: the step sends the chair to the passport.
        {"key": "members", "title": gettext("Члены Профсоюза поставлены на учёт"),
         "done": members > 0 and not over_staff,
         "detail": (gettext("на учёте %(n)s — больше, чем работающих (%(total)s): проверьте численность в паспорте",
                            n=members, total=potential) if over_staff else
                    gettext("на учёте %(n)s из %(total)s возможных", n=members, total=potential) if potential
                    else gettext("на учёте %(n)s", n=members))
                   + ("; " + gettext("без телефона и e-mail: %(n)s", n=no_contacts) if no_contacts else ""),
         "url": url_for("registry.passport" if over_staff else "registry.members", org_id=org.id)},
        {"key": "consents", "title": gettext("Согласия на обработку персональных данных собраны"),
         "done": members > 0 and consents == members,
         "detail": gettext("собрано %(n)s из %(total)s", n=consents, total=members),
         "url": url_for("registry.members", org_id=org.id, consent="none")},
        {"key": "cards_ordered", "title": gettext("Электронные профсоюзные билеты заказаны"),
         "done": consents > 0 and cards_ordered == consents,
         "detail": gettext("заказано %(n)s из %(total)s давших согласие", n=cards_ordered, total=consents),
         "url": url_for("registry.members", org_id=org.id, card="not_ordered")},
        {"key": "cards_issued", "title": gettext("Билеты выданы (статус «ВЫДАН»)"),
         "done": cards_ordered > 0 and cards_issued == cards_ordered,
         "detail": gettext("выдано %(n)s из %(total)s", n=cards_issued, total=cards_ordered),
         "url": url_for("registry.members", org_id=org.id, card="issued")},
    ]
    return {"steps": steps, "members": members, "potential": potential,
            "level": membership_level(members, potential), "passport_missing": missing}


def potential_members(org: Organisation) -> int | None:
    """Staff (or students) who could be members: the organisation's own figure, or the sum over its primaries."""
    if org.level == OrgLevel.PRIMARY:
        return org.potential_members
    total = db.session.scalar(
        select(func.sum(case((Organisation.kind == "students", Organisation.student_count),
                             else_=Organisation.staff_count)))
        .where(Organisation.path.like(org.path + "%"), Organisation.level == OrgLevel.PRIMARY))
    return int(total) if total else None


def membership_level(members: int, potential: int | None):
    """Members ÷ potential members, in per cent (rolled up by summing both, never by averaging percentages)."""
    if not potential:
        return None
    return round(100 * members / potential, 1)


@bp.route("/orgs/<org_id>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def org(org_id):
    """The organisation's page: passport summary, checklist, organisations below."""
    org = policy.get_org(current_user, org_id)
    children = db.session.scalars(select(Organisation).where(Organisation.parent_id == org.id)
                                  .order_by(Organisation.name).limit(200)).all()
    ancestors = _breadcrumbs(org)
    open_corrections = db.session.scalar(select(func.count()).select_from(CorrectionRequest).where(
        CorrectionRequest.org_id == org.id, CorrectionRequest.status == CorrectionStatus.OPEN))
    return render_template("registry/org.html", org=org, children=children, ancestors=ancestors,
                           checklist=checklist(org), can_edit=policy.can_edit_org(current_user, org),
                           open_corrections=open_corrections)


def _breadcrumbs(org: Organisation) -> list[Organisation]:
    """Ancestors the user may see, from the top of their scope down to the organisation's parent."""
    ids = org.ancestor_ids()[:-1]
    if not ids:
        return []
    rows = {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows and policy.org_in_scope(current_user, rows[i])]


@bp.route("/orgs/<org_id>/passport", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_PASSPORT)
def passport(org_id):
    """Fill in or correct the organisation's electronic passport."""
    org = policy.get_org(current_user, org_id)
    if not policy.can_edit_org(current_user, org):
        abort(404)
    form = PassportForm(obj=org)
    if request.method == "GET":
        form.kind.data = org.kind
        form.chair_gender.data = org.chair_gender
    if form.validate_on_submit():
        data = {name: form[name].data for name in ops.PASSPORT_FIELDS}
        for key in ("short_name", "inn", "address", "chair_name", "chair_phone", "chair_email"):
            data[key] = (data[key] or "").strip()
        changed = ops.update_passport(current_user, org, data)
        db.session.commit()
        flash(gettext("Паспорт сохранён.") if changed else gettext("Изменений нет — паспорт не менялся."), "success")
        return redirect(url_for("registry.org", org_id=org.id))
    return render_template("registry/passport.html", org=org, form=form)


@bp.route("/orgs/<org_id>/correction", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_PASSPORT)
def correction(org_id):
    """Send a correction request to the organisation above (what the chair may not change themself)."""
    org = policy.get_org(current_user, org_id)
    if not policy.can_edit_org(current_user, org) or org.parent_id is None:
        abort(404)
    form = CorrectionForm()
    if form.validate_on_submit():
        ops.request_correction(current_user, org, form.text.data)
        db.session.commit()
        flash(gettext("Запрос отправлен в вышестоящую организацию."), "success")
        return redirect(url_for("registry.org", org_id=org.id))
    return render_template("registry/correction.html", org=org, form=form)


@bp.route("/corrections")
@policy.requires(policy.Permission.RESOLVE_CORRECTIONS)
def corrections():
    """The queue of correction requests sent to the organisations the user manages."""
    _require(Permission.RESOLVE_CORRECTIONS)
    to_org_ids = policy.visible_org_ids(current_user)
    reqs = db.session.scalars(
        select(CorrectionRequest).where(CorrectionRequest.to_org_id.in_(to_org_ids))
        .order_by((CorrectionRequest.status == CorrectionStatus.OPEN).desc(), CorrectionRequest.id.desc())
        .limit(300)).all()
    return render_template("registry/corrections.html", reqs=reqs, form=CorrectionAnswerForm())


@bp.route("/corrections/<int:req_id>", methods=["POST"])
@policy.requires(policy.Permission.RESOLVE_CORRECTIONS)
def resolve_correction(req_id: int):
    """Record the decision on a correction request."""
    _require(Permission.RESOLVE_CORRECTIONS)
    req = db.session.get(CorrectionRequest, req_id)
    if req is None or not policy.org_in_scope(current_user, req.to_org):
        policy.abort_not_found("correction_requests", req_id if req else None, user=current_user if req else None)
    form = CorrectionAnswerForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        ops.resolve_correction(current_user, req, form.decision.data == "done", form.answer.data or "")
    except ops.RegistryError as e:
        abort(409, e.message)
    db.session.commit()
    flash(gettext("Решение по запросу сохранено."), "success")
    return redirect(url_for("registry.corrections"))


@bp.route("/orgs/<org_id>/tree")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def tree(org_id):
    """Browse the organisations below, one level at a time, with member counts."""
    org = policy.get_org(current_user, org_id)
    children = db.session.scalars(select(Organisation).where(Organisation.parent_id == org.id)
                                  .order_by(Organisation.level, Organisation.name)).all()
    # One grouped count over the subtree, summed per child in Python by path prefix (no query per child).
    per_org = db.session.execute(
        select(Organisation.path, func.count(Member.id))
        .join(Member, Member.org_id == Organisation.id)
        .where(Organisation.path.like(org.path + "%"), Member.status == MemberStatus.ACTIVE)
        .group_by(Organisation.path)).all()
    counts = {c.id: sum(n for path, n in per_org if path.startswith(c.path)) for c in children}
    return render_template("registry/tree.html", org=org, children=children, counts=counts,
                           ancestors=_breadcrumbs(org))


# ---- members -------------------------------------------------------------------------------------------------

def member_query(org: Organisation, args) -> tuple:
    """The filtered, sorted query of members of an organisation's subtree, and the filters as applied."""
    q = select(Member).where(policy.member_scope(current_user, org))
    applied = {}
    status = args.get("status", "active")
    for key, (column, enum_cls) in FILTERS.items():
        value = status if key == "status" else args.get(key, "")
        if value and value != "all":
            try:
                q = q.where(column == enum_cls(value))
                applied[key] = value
            except ValueError:
                abort(400, gettext("Неизвестное значение фильтра."))
    text = (args.get("q") or "").strip()[:100]
    if text:
        q = q.where(search_condition(text))
        applied["q"] = text
    sort = args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    return q, applied, sort


COUNT_CAP = 10_000
PAGE_SIZE = 50


class MemberRow(NamedTuple):
    """A member as a list shows one (registry/_member_rows.html), read as plain columns.

    Not an ORM object: building fifty of those cost twice the query itself. Whatever else a template asks for is
    an AttributeError, never a query per row.
    """

    id: int
    org_id: int
    last_name: str
    first_name: str
    patronymic: str
    birth_date: date
    position: str
    category: Category
    status: MemberStatus
    consent_status: ConsentStatus
    card_status: CardStatus

    org_name: str = ""  # read only for lists over several organisations

    full_name = property(Member.full_name.fget)


ROW_COLUMNS = tuple(getattr(Member, name) for name in MemberRow._fields if name != "org_name")
# The organisation's name as lists show it (`str(org)`), in the row's own statement: with a LIMIT, PostgreSQL
# evaluates the subquery for the rows returned only, after the sort.
ORG_NAME = (select(func.coalesce(func.nullif(Organisation.short_name, ""), Organisation.name))
            .where(Organisation.id == Member.org_id).correlate(Member).scalar_subquery())


def _rows(q, with_org: bool) -> list[MemberRow]:
    columns = (*ROW_COLUMNS, ORG_NAME) if with_org else ROW_COLUMNS
    return [MemberRow(*r) for r in db.session.execute(q.with_only_columns(*columns))]


def org_names(rows: list[MemberRow]) -> dict[int, str]:
    """{organisation id: name} of the rows' organisations (read with the rows)."""
    return {m.org_id: m.org_name for m in rows}


def member_page(org: Organisation, args) -> dict:
    """One page of an organisation's member list: its rows, the count (capped), the organisations' names.

    The count is skipped when the first page is not full (the page itself is the count), and stops at COUNT_CAP
    (counting a region's members exactly is a scan that buys nothing).
    """
    q, applied, sort = member_query(org, args)
    many_orgs = org.level != OrgLevel.PRIMARY
    page = min(max(args.get("page", 1, type=int) or 1, 1), COUNT_CAP // PAGE_SIZE + 1)

    def read(page_number: int) -> list[MemberRow]:
        return _rows(q.order_by(*SORTS[sort]).limit(PAGE_SIZE).offset((page_number - 1) * PAGE_SIZE), many_orgs)

    rows = read(page)
    if page == 1 and len(rows) < PAGE_SIZE:
        total = len(rows)
    else:
        counted = q.with_only_columns(Member.id).order_by(None).limit(COUNT_CAP + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(counted))
    pages = max(1, math.ceil(min(total, COUNT_CAP) / PAGE_SIZE))
    if page > pages:  # a link to a page past the end (the list got shorter): show the last one
        page = pages
        rows = read(page)
    orgs = org_names(rows) if many_orgs else {}
    return {"rows": rows, "total": total, "capped": total > COUNT_CAP, "page": page, "pages": pages,
            "applied": applied, "sort": sort, "orgs": orgs}


@bp.route("/orgs/<org_id>/members")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def members(org_id):
    """The members of an organisation (and the organisations below it): search, filters, sorting, pages."""
    org = policy.get_org(current_user, org_id)
    _require(Permission.VIEW_REGISTRY)
    listing = member_page(org, request.args)
    audit.write("member_list", org, ids=[m.id for m in listing["rows"]], filters=listing["applied"])
    base_args = {k: v for k, v in request.args.items() if k != "page"}

    def page_args(p):
        return urlencode({**base_args, "page": p})

    html = render_template("registry/members.html", org=org, **listing, page_args=page_args, args=request.args,
                           enums={"category": Category, "consent": ConsentStatus, "card": CardStatus,
                                  "dues": DuesForm, "status": MemberStatus})
    audit.commit_read()  # after rendering: the rows shown are the rows read in the audited transaction
    return html


def search_rows(text: str) -> list[MemberRow]:
    """Up to 51 members in the user's scope matching a surname prefix (with a name) or a card number."""
    q = select(Member).where(policy.member_scope(current_user), search_condition(text))
    return _rows(q.order_by(Member.last_name_folded, Member.id).limit(PAGE_SIZE + 1), True)


@bp.route("/search")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def search():
    """Find a member anywhere in the user's scope by surname prefix (with a name) or card number."""
    _require(Permission.VIEW_REGISTRY)
    text = (request.args.get("q") or "").strip()[:100]
    rows, more = [], False
    if text:
        rows = search_rows(text)
        more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    orgs = org_names(rows)
    if text:
        audit.write("member_search", object_type="members", org_id=current_user.org_id,
                    ids=[m.id for m in rows], query_length=len(text))
    html = render_template("registry/search.html", rows=rows, more=more, text=text, orgs=orgs)
    if text:
        audit.commit_read()
    return html


@bp.route("/orgs/<org_id>/members/new", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def member_new(org_id):
    """Register a new member in a primary organisation."""
    org = policy.get_org(current_user, org_id)
    _require(Permission.EDIT_MEMBERS)
    if org.level != OrgLevel.PRIMARY:
        flash(gettext("Членов Профсоюза ставят на учёт в первичной организации: выберите её в структуре."), "warning")
        return redirect(url_for("registry.tree", org_id=org.id))
    form = MemberForm()
    if form.validate_on_submit():
        try:
            member = ops.create_member(current_user, org, form.typed_data())
        except ops.RegistryError as e:
            form[e.field or "last_name"].errors.append(e.message)
        else:
            db.session.commit()
            flash(gettext("%(name)s поставлен(а) на учёт.", name=member.full_name), "success")
            if request.form.get("next") == "another":
                return redirect(url_for("registry.member_new", org_id=org.id))
            return redirect(url_for("registry.member", member_id=member.id))
    return render_template("registry/member_form.html", org=org, form=form, member=None)


@bp.route("/members/<member_id>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def member(member_id):
    """A member's registration card with history; the read is audited."""
    from portal.aid.operations import member_aid

    m = policy.get_member(current_user, member_id)
    audit.write("member_read", m)
    can_file_aid, aid_petitions = member_aid(current_user, m)
    html = render_template("registry/member.html", m=m, can_edit=policy.can_edit_member(current_user, m),
                           readmit_from=ops.readmission_allowed_from(m), EventKind=EventKind,
                           can_file_aid=can_file_aid, aid_petitions=aid_petitions)
    audit.commit_read()
    return html


@bp.route("/members/<member_id>/edit", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def member_edit(member_id):
    """Edit a member's card."""
    m = policy.get_member(current_user, member_id)
    if not policy.can_edit_member(current_user, m):
        abort(404)
    form = MemberForm(obj=m)
    # The joining date is corrected through its own form with a reason (member_correct_joined), not here.
    form.joined_on.render_kw = {"readonly": True}
    if request.method == "GET":
        for name in MemberForm.ENUMS:
            form[name].data = getattr(m, name).value
    if form.validate_on_submit():
        try:
            changed = ops.update_member(current_user, m, form.typed_data())
        except ops.RegistryError as e:
            form[e.field or "last_name"].errors.append(e.message)
        else:
            db.session.commit()
            flash(gettext("Карточка сохранена.") if changed else gettext("Изменений нет."), "success")
            return redirect(url_for("registry.member", member_id=m.id))
    html = render_template("registry/member_form.html", org=m.org, form=form, member=m)
    if request.method == "GET":
        # The form shows the whole card: a read of personal data like the card page.
        audit.write("member_read", m, via="edit")
        audit.commit_read()
    return html


@bp.route("/members/<member_id>/joined-on", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def member_correct_joined(member_id):
    """Correct a member's joining date: a recorded correction (old, new, reason, who, when), since the date
    decides tenure and so the amount of material aid. The card form cannot change it."""
    m = policy.get_member(current_user, member_id)
    if not policy.can_edit_member(current_user, m):
        abort(404)
    form = JoinedOnCorrectionForm()
    if request.method == "GET":
        form.joined_on.data = m.joined_on
    if form.validate_on_submit():
        try:
            ops.correct_joined_on(current_user, m, form.joined_on.data, form.reason.data or "")
        except ops.RegistryError as e:
            form[e.field if e.field in ("joined_on", "reason") else "joined_on"].errors.append(e.message)
        else:
            db.session.commit()
            flash(gettext("Дата вступления исправлена; исправление записано."), "success")
            return redirect(url_for("registry.member", member_id=m.id))
    corrections = db.session.scalars(select(MemberCorrection).where(MemberCorrection.member_id == m.id)
                                     .order_by(MemberCorrection.id.desc())).all()
    html = render_template("registry/member_correction.html", m=m, form=form, corrections=corrections)
    if request.method == "GET":
        audit.write("member_read", m, via="joined_on_correction")
        audit.commit_read()
    return html


@bp.route("/members/<member_id>/<action>", methods=["GET", "POST"])
@policy.requires(policy.Permission.EDIT_MEMBERS)
def member_event(member_id, action):
    """Membership events: transfer, leave, exclude, re-admit."""
    if action not in ("transfer", "leave", "exclude", "readmit"):
        abort(404)
    m = policy.get_member(current_user, member_id)
    if not policy.can_edit_member(current_user, m):
        abort(404)
    form = TransferForm() if action == "transfer" else EventForm()
    if action == "transfer":
        targets = db.session.scalars(policy.transfer_targets(current_user).where(Organisation.id != m.org_id)
                                     .order_by(Organisation.name).limit(1000)).all()
        form.to_org_id.choices = [(o.id, o.name) for o in targets]
    if form.validate_on_submit():
        try:
            if action == "transfer":
                target = db.session.get(Organisation, form.to_org_id.data)
                if target is None or target.id not in {o.id for o in targets}:
                    raise ops.RegistryError(gettext("Выберите организацию из списка."), field="to_org_id")
                ops.transfer_member(current_user, m, target, form.on_date.data, form.reason.data or "")
                message = gettext("%(name)s переведён(а) в «%(org)s». Профсоюзный стаж сохраняется.", name=m.full_name,
                                  org=target)
            elif action == "readmit":
                ops.readmit_member(current_user, m, form.on_date.data, form.reason.data or "")
                message = gettext("%(name)s повторно принят(а). Стаж считается с %(on)s.", name=m.full_name,
                                  on=form.on_date.data.strftime("%d.%m.%Y"))
            else:
                kind = EventKind.LEFT if action == "leave" else EventKind.EXCLUDED
                ops.end_membership(current_user, m, kind, form.on_date.data, form.reason.data or "")
                message = f"{m.full_name}: {kind.label}."
        except ops.RegistryError as e:
            db.session.rollback()
            form[e.field or "on_date"].errors.append(e.message)
        else:
            db.session.commit()
            flash(message, "success")
            if policy.org_in_scope(current_user, m.org):
                return redirect(url_for("registry.member", member_id=m.id))
            return redirect(url_for("registry.members", org_id=current_user.org_id))
    html = render_template("registry/member_event.html", m=m, form=form, action=action,
                           readmit_from=ops.readmission_allowed_from(m))
    if request.method == "GET":
        audit.write("member_read", m, via=action)  # the form names the member and their dates
        audit.commit_read()
    return html
