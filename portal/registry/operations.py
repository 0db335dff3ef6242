"""Named operations on the registry. Views and imports call these; each checks its rule, changes, audits.

They raise `RegistryError` (a Russian message for the user) when a rule forbids the change; nothing is written then.
The caller commits.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from portal import audit
from portal.clock import now, today
from portal.extensions import db
from portal.registry.models import (
    CorrectionRequest,
    CorrectionStatus,
    EventKind,
    Member,
    MemberCorrection,
    MemberEvent,
    MemberStatus,
    Organisation,
    OrgCountChange,
    OrgLevel,
    person_key,
)
from portal.registry.rules import check_member

READMISSION_WAIT_YEARS = 1  # seed 004 п.1.2, Charter п.7 ст.11

MEMBER_FIELDS = ("last_name", "first_name", "patronymic", "birth_date", "gender", "department", "position",
                 "education", "dues_form", "joined_on", "category", "address", "phone", "email", "id_doc_type",
                 "id_doc_number", "id_doc_issued_on", "id_doc_issuer")
# Optional fields: an empty string when not given (dates stay None).
OPTIONAL_TEXT = ("patronymic", "department", "address", "phone", "email", "id_doc_type", "id_doc_number",
                 "id_doc_issuer")
PASSPORT_FIELDS = ("name", "short_name", "inn", "institution_name", "institution_inn", "kind", "address", "chair_name",
                   "chair_gender", "chair_released", "chair_phone", "chair_email", "staff_count", "student_count", "committee_size",
                   "audit_commission_size")


class RegistryError(Exception):
    """A registry rule forbids the change; the message is for the user (Russian)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _changes(obj, data: dict, fields) -> dict:
    changed = {}
    for f in fields:
        if f in data and getattr(obj, f) != data[f]:
            old = getattr(obj, f)
            changed[f] = [getattr(old, "value", old), getattr(data[f], "value", data[f])]
    return changed


def find_duplicate(last: str, first: str, patronymic: str, birth: date, exclude_id: int | None = None) -> Member | None:
    q = select(Member).where(Member.person_key == person_key(last, first, patronymic, birth))
    if exclude_id is not None:
        q = q.where(Member.id != exclude_id)
    return db.session.scalar(q)


def _ensure_no_duplicate(data: dict, exclude_id: int | None = None) -> None:
    dup = find_duplicate(data["last_name"], data["first_name"], data.get("patronymic") or "", data["birth_date"],
                         exclude_id)
    if dup is not None:
        raise RegistryError(
            gettext("Член Профсоюза с такими фамилией, именем, отчеством и датой рождения уже состоит на учёте "
                    "в этой организации.")
            if exclude_id is None and dup.org_id == data.get("_org_id") else
            gettext("Член Профсоюза с такими фамилией, именем, отчеством и датой рождения уже состоит на учёте. "
                    "Если он перешёл к вам из другой организации, попросите вышестоящую организацию оформить перевод."),
            field="last_name")


def create_member(actor, org: Organisation, data: dict) -> Member:
    """Register a new member in a primary organisation, with a «joined» event."""
    if org.level != OrgLevel.PRIMARY:
        raise RegistryError(gettext("Членов Профсоюза ставят на учёт в первичной организации. Откройте нужную первичную организацию."))
    errors = check_member(data)
    if errors:
        field, message = next(iter(errors.items()))
        message = gettext(message)  # a msgid of the card rules
        raise RegistryError(message[0].upper() + message[1:] + ".", field=field)
    _ensure_no_duplicate({**data, "_org_id": org.id})
    member = Member(org_id=org.id, status=MemberStatus.ACTIVE, **{f: data.get(f) or ("" if f in OPTIONAL_TEXT
                                                                                     else data.get(f))
                                                                  for f in MEMBER_FIELDS})
    member.tenure_start = member.joined_on
    member.status_since = member.joined_on
    member.refresh_keys()
    db.session.add(member)
    db.session.flush()
    db.session.add(MemberEvent(member_id=member.id, kind=EventKind.JOINED, on_date=member.joined_on,
                               to_org_id=org.id, actor_id=getattr(actor, "id", None)))
    audit.record("member_create", member, actor=actor)
    return member


def update_member(actor, member: Member, data: dict) -> dict:
    """Edit a member card; returns what changed (old, new). Tenure start follows a corrected joining date
    only while the member was never re-admitted."""
    errors = check_member({**{f: getattr(member, f) for f in MEMBER_FIELDS}, **data})
    if errors:
        field, message = next(iter(errors.items()))
        message = gettext(message)  # a msgid of the card rules
        raise RegistryError(message[0].upper() + message[1:] + ".", field=field)
    if "joined_on" in data and data["joined_on"] != member.joined_on:
        # The joining date is an input of aid amounts (tenure): it changes only as a recorded correction with a
        # reason (correct_joined_on), never as a silent edit of the card.
        raise RegistryError(gettext("Дата вступления меняется только исправлением с указанием причины "
                                    "(«Исправить» рядом с датой на карточке)."), field="joined_on")
    merged = {f: data.get(f, getattr(member, f)) for f in MEMBER_FIELDS}
    _ensure_no_duplicate(merged, exclude_id=member.id)
    changed = _changes(member, data, MEMBER_FIELDS)
    for f in MEMBER_FIELDS:
        if f in data:
            setattr(member, f, data[f] if data[f] is not None or f not in OPTIONAL_TEXT else "")
    member.refresh_keys()
    if changed:
        audit.record("member_update", member, actor=actor, changed=changed)
    return changed


def correct_joined_on(actor, member: Member, new_date: date | None, reason: str) -> MemberCorrection:
    """Correct a member's joining date: a recorded correction with the old and new value, the reason, who and when
    (the date decides the tenure, and so the amount of material aid). Tenure start follows the corrected date only
    while the member was never re-admitted (after a re-admission tenure counts from that date)."""
    reason = " ".join((reason or "").split())
    if new_date is None:
        raise RegistryError(gettext("Укажите исправленную дату вступления."), field="joined_on")
    if len(reason) < 10:
        raise RegistryError(gettext("Укажите причину исправления (откуда верная дата: заявление, протокол, "
                                    "учётная карточка) — не короче 10 символов."), field="reason")
    if new_date == member.joined_on:
        raise RegistryError(gettext("Дата вступления уже такая — исправлять нечего."), field="joined_on")
    errors = check_member({**{f: getattr(member, f) for f in MEMBER_FIELDS}, "joined_on": new_date})
    if "joined_on" in errors:
        message = gettext(errors["joined_on"])
        raise RegistryError(message[0].upper() + message[1:] + ".", field="joined_on")
    old = member.joined_on
    readmitted = any(e.kind == EventKind.READMITTED for e in member.events)
    member.joined_on = new_date
    if not readmitted:
        member.tenure_start = new_date
    correction = MemberCorrection(member_id=member.id, field="joined_on", old_value=old, new_value=new_date,
                                  reason=reason, actor_id=getattr(actor, "id", None),
                                  actor_login=getattr(actor, "login", "") or "", at=now())
    db.session.add(correction)
    audit.record("member_correction", member, actor=actor, changed={"joined_on": [old, new_date]}, reason=reason)
    return correction


def last_joined_correction(member_id: int) -> MemberCorrection | None:
    """The latest correction of the member's joining date (None: never corrected since registration)."""
    return db.session.scalar(select(MemberCorrection).where(
        MemberCorrection.member_id == member_id, MemberCorrection.field == "joined_on")
        .order_by(MemberCorrection.id.desc()).limit(1))


COUNT_FIELDS = ("staff_count", "student_count")


def _record_count_changes(actor, org: Organisation, changed: dict) -> None:
    """Keep the history of the staff and student counts (the denominator of the membership level)."""
    moment = now()
    for f in COUNT_FIELDS:
        if f in changed:
            old, new = changed[f]
            db.session.add(OrgCountChange(org_id=org.id, field=f, old_value=old, new_value=new,
                                          actor_id=getattr(actor, "id", None),
                                          actor_login=getattr(actor, "login", "") or "", at=moment))


def last_count_change(org_id: int, field: str) -> OrgCountChange | None:
    """The latest change of an organisation's staff (student) count (None: never set through the portal)."""
    return db.session.scalar(select(OrgCountChange).where(OrgCountChange.org_id == org_id,
                                                          OrgCountChange.field == field)
                             .order_by(OrgCountChange.id.desc()).limit(1))


def transfer_member(actor, member: Member, to_org: Organisation, on_date: date, reason: str = "") -> MemberEvent:
    """Move a member to another primary; tenure continues (SPEC §3)."""
    if member.status != MemberStatus.ACTIVE:
        raise RegistryError(gettext("Перевести можно только состоящего на учёте члена Профсоюза."))
    if to_org.level != OrgLevel.PRIMARY:
        raise RegistryError(gettext("Переводят в первичную организацию."), field="to_org_id")
    if to_org.id == member.org_id:
        raise RegistryError(gettext("Член Профсоюза уже состоит в этой организации."), field="to_org_id")
    _check_event_date(member, on_date)
    event = MemberEvent(member_id=member.id, kind=EventKind.TRANSFERRED, on_date=on_date, from_org_id=member.org_id,
                        to_org_id=to_org.id, reason=reason, actor_id=getattr(actor, "id", None))
    db.session.add(event)
    audit.record("member_transfer", member, actor=actor, from_org=member.org_id, to_org=to_org.id)
    member.org_id = to_org.id
    member.org = to_org
    return event


def _check_event_date(member: Member, on_date: date) -> None:
    if on_date > today():
        raise RegistryError(gettext("Дата решения не может быть в будущем."), field="on_date")
    if on_date < member.joined_on:
        raise RegistryError(gettext("Дата решения раньше даты вступления в Профсоюз."), field="on_date")
    if member.status_since and on_date < member.status_since:
        raise RegistryError(gettext("Дата решения раньше предыдущего события в истории членства."), field="on_date")


def end_membership(actor, member: Member, kind: EventKind, on_date: date, reason: str = "") -> MemberEvent:
    """Leaving by own application or exclusion: the card stays in the registry with its history."""
    if kind not in (EventKind.LEFT, EventKind.EXCLUDED):
        raise ValueError(kind)
    if member.status != MemberStatus.ACTIVE:
        raise RegistryError(gettext("Этот человек уже не состоит на учёте."))
    if kind == EventKind.EXCLUDED and not reason.strip():
        raise RegistryError(gettext("Укажите основание исключения (решение, протокол)."), field="reason")
    _check_event_date(member, on_date)
    member.status = MemberStatus.LEFT if kind == EventKind.LEFT else MemberStatus.EXCLUDED
    member.status_since = on_date
    event = MemberEvent(member_id=member.id, kind=kind, on_date=on_date, from_org_id=member.org_id, reason=reason,
                        actor_id=getattr(actor, "id", None))
    db.session.add(event)
    audit.record("member_" + kind.value, member, actor=actor, on_date=on_date)
    return event


def readmission_allowed_from(member: Member) -> date | None:
    """The first date a former member may be re-admitted (one year after leaving or exclusion)."""
    if member.status == MemberStatus.ACTIVE or member.status_since is None:
        return None
    d = member.status_since
    try:
        return d.replace(year=d.year + READMISSION_WAIT_YEARS)
    except ValueError:  # 29 February
        return d.replace(year=d.year + READMISSION_WAIT_YEARS, month=3, day=1)


def readmit_member(actor, member: Member, on_date: date, reason: str = "") -> MemberEvent:
    """Re-admission: no earlier than a year after the decision; tenure then counts from re-admission only."""
    if member.status == MemberStatus.ACTIVE:
        raise RegistryError(gettext("Этот человек и так состоит на учёте."))
    earliest = readmission_allowed_from(member)
    if on_date > today():
        raise RegistryError(gettext("Дата решения не может быть в будущем."), field="on_date")
    if earliest and on_date < earliest:
        raise RegistryError(
            gettext("Повторно принять можно не ранее чем через год после выхода или исключения — с %(on)s.",
                    on=earliest.strftime("%d.%m.%Y")),
            field="on_date")
    member.status = MemberStatus.ACTIVE
    member.status_since = on_date
    member.tenure_start = on_date
    event = MemberEvent(member_id=member.id, kind=EventKind.READMITTED, on_date=on_date, to_org_id=member.org_id,
                        reason=reason, actor_id=getattr(actor, "id", None))
    db.session.add(event)
    audit.record("member_readmit", member, actor=actor, on_date=on_date)
    return event


def update_passport(actor, org: Organisation, data: dict) -> dict:
    """Fill or correct the organisation passport; the name counts as checked by the chair once saved."""
    changed = _changes(org, data, PASSPORT_FIELDS)
    for f in PASSPORT_FIELDS:
        if f in data:
            value = data[f]
            if isinstance(value, str):
                value = " ".join(value.split())
            setattr(org, f, value)
    if org.name_confirmed_at is None:
        org.name_confirmed_at = now()
    _record_count_changes(actor, org, changed)
    if changed:
        audit.record("passport_update", org, actor=actor, changed=changed)
    return changed


def request_correction(actor, org: Organisation, text: str) -> CorrectionRequest:
    """Ask the organisation above to correct what the chair may not change (name, place in the tree, merger)."""
    if org.parent_id is None:
        raise RegistryError(gettext("У этой организации нет вышестоящей."))
    req = CorrectionRequest(org_id=org.id, to_org_id=org.parent_id, text=text.strip(), author_id=actor.id)
    db.session.add(req)
    db.session.flush()
    audit.record("correction_request", object_type="correction_requests", object_id=req.id, org_id=org.id, actor=actor)
    return req


def resolve_correction(actor, req: CorrectionRequest, done: bool, answer: str) -> None:
    if req.status != CorrectionStatus.OPEN:
        raise RegistryError(gettext("Запрос уже рассмотрен."))
    req.status = CorrectionStatus.DONE if done else CorrectionStatus.DECLINED
    req.answer = answer.strip()
    req.resolver_id = actor.id
    req.resolved_at = now()
    audit.record("correction_resolve", object_type="correction_requests", object_id=req.id, org_id=req.org_id,
                 actor=actor, decision=req.status.value)


def move_organisation(actor, org: Organisation, new_parent: Organisation) -> None:
    """Re-hang an organisation (and its subtree) under another parent: one UPDATE of the paths below it."""
    from portal.registry.models import ALLOWED_PARENTS

    if new_parent.level not in ALLOWED_PARENTS[org.level]:
        raise RegistryError(gettext("%(level)s не может входить в %(parent)s.", level=org.level.label,
                                     parent=new_parent.level.label.lower()))
    if new_parent.path.startswith(org.path):
        raise RegistryError(gettext("Нельзя перенести организацию внутрь её самой."))
    old_path = org.path
    new_path = f"{new_parent.path}{org.id}/"
    from sqlalchemy import String, func, literal, update

    db.session.execute(
        update(Organisation)
        .where(Organisation.path.like(old_path + "%"))
        .values(path=literal(new_path, String) + func.substr(Organisation.path, len(old_path) + 1))
        .execution_options(synchronize_session=False))
    org.parent_id = new_parent.id
    audit.record("org_move", org, actor=actor, from_path=old_path, to_path=new_path)
    db.session.flush()
    db.session.expire_all()


def add_organisation(actor, parent: Organisation | None, level: OrgLevel, name: str, **fields) -> Organisation:
    """Create an organisation under a parent (or the central one at the root), computing its path."""
    from portal.registry.models import ALLOWED_PARENTS

    if parent is None and level != OrgLevel.CENTRAL:
        raise RegistryError(gettext("Укажите вышестоящую организацию."))
    if parent is not None and parent.level not in ALLOWED_PARENTS[level]:
        raise RegistryError(gettext("%(level)s не может входить в %(parent)s.", level=level.label,
                                     parent=parent.level.label.lower()))
    org = Organisation(parent_id=parent.id if parent else None, level=level, name=name, path="", **fields)
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    _record_count_changes(actor, org, {f: [None, fields[f]] for f in COUNT_FIELDS if fields.get(f) is not None})
    audit.record("org_create", org, actor=actor)
    return org
