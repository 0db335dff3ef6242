"""Named operations on material aid: the regulation in force, the registry's facts for a petition, the live quote,
filing, the workflow's actions (one or many at once), attachments, and the values the documents are made from.

They raise `AidError` (a message for the user in the interface language, Russian by default) when a rule forbids
the change; nothing is written then.
The caller commits.

Decisions SPEC leaves open:
- The regulation in force on a date is the region's highest version whose validity covers the date; editing always
  writes a new version (old ones, used by petitions or not, stay as they were).
- The tenure and the membership level are taken from the registry on the filing date and recorded on the petition;
  later changes in the registry do not change a filed petition's amount.
- "One petition per member" means one open (filed or reviewed) petition at a time, enforced by a partial unique
  index, so two chairs filing at once cannot both succeed.
- Decisions are idempotent: each form carries the petition's version; a repeated submission of a decision the same
  person already recorded is answered "already recorded", anyone else's late decision gets a conflict message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from flask_babel import gettext
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.aid.models import (
    OPEN_STATES,
    AidPetition,
    AidRegulation,
    AttachmentKind,
    PetitionAttachment,
    PetitionState,
)
from portal.clock import now, today
from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Member, MemberStatus, Organisation, OrgLevel
from portal.text import money as format_money
from workflows import aid as rules

ATTACHMENT_AREA = "aid"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20
REVIEW_DAYS = 14  # a filed petition not reviewed within two weeks shows as overdue on the office's list


class AidError(Exception):
    """A rule forbids the change; the message is for the user (already translated, Russian by default)."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


# ---- the regulation ------------------------------------------------------------------------------------------


def region_of(org: Organisation) -> Organisation | None:
    """The regional organisation an organisation belongs to (itself if it is one)."""
    if org.level == OrgLevel.REGIONAL:
        return org
    ids = org.ancestor_ids()
    if len(ids) < 2:
        return None
    region = db.session.get(Organisation, ids[1])
    return region if region is not None and region.level == OrgLevel.REGIONAL else None


def current_regulation(region: Organisation | None, on: date | None = None) -> AidRegulation | None:
    """The region's regulation in force on a date (the highest version whose validity covers it)."""
    if region is None:
        return None
    on = on or today()
    return db.session.scalar(
        select(AidRegulation).where(AidRegulation.org_id == region.id, AidRegulation.valid_from <= on,
                                    or_(AidRegulation.valid_to.is_(None), AidRegulation.valid_to >= on))
        .order_by(AidRegulation.version.desc()).limit(1))


def regulation_versions(region: Organisation) -> list[AidRegulation]:
    return list(db.session.scalars(select(AidRegulation).where(AidRegulation.org_id == region.id)
                                   .order_by(AidRegulation.version.desc())))


def regulation_template(region: Organisation) -> rules.Regulation:
    """What a region's office starts its own regulation from when it has none: seed 004's table and conditions
    with the region's own addressee block — «Председателю», the region's name and its chairman put in the dative
    by pymorphy3 (a proposal the office checks on the form) — and no union programme until it names its own.
    Never another region's addressee or resort (seed 004 is the Saratov organisation's)."""
    from portal.documents.declension import addressee_block

    return rules.template_regulation(addressee_block(region.name, region.chair_name or ""))


def no_regulation_message(region: Organisation | None) -> str:
    """The chair's answer while the region has no regulation in force: why nothing can be filed, and who fixes it."""
    if region is None:
        return gettext("Организация не входит в региональную организацию: ходатайство о материальной помощи подать "
                       "нельзя.")
    return gettext("В %(region)s нет действующего Положения о материальной помощи на санаторно-курортное лечение: "
                   "ходатайство подать нельзя. Положение утверждает и вносит в портал аппарат региональной "
                   "организации (раздел «Положение»).", region=f"«{region.name}»")


def save_regulation(actor, region: Organisation, value: rules.Regulation, valid_from: date,
                    valid_to: date | None = None, approved_by: str = "") -> AidRegulation:
    """Write a new version of the region's regulation (never an in-place edit)."""
    if region.level != OrgLevel.REGIONAL:
        raise AidError(gettext("Положение принадлежит региональной организации."))
    if valid_to is not None and valid_to < valid_from:
        raise AidError(gettext("Окончание срока действия раньше его начала."))
    problem = regulation_problem(value)
    if problem:
        raise AidError(problem)
    last = db.session.scalar(select(func.max(AidRegulation.version)).where(AidRegulation.org_id == region.id)) or 0
    reg = AidRegulation.from_rules(value, org_id=region.id, version=last + 1, valid_from=valid_from,
                                   valid_to=valid_to, approved_by=approved_by.strip(),
                                   created_by_id=getattr(actor, "id", None))
    db.session.add(reg)
    try:
        db.session.flush()
    except IntegrityError as e:  # two editors at once: the (org, version) key lets one through
        db.session.rollback()
        raise AidError(gettext("Положение только что изменил кто-то другой. Обновите страницу.")) from e
    audit.record("aid_regulation_saved", object_type="aid_regulations", object_id=reg.id, org_id=region.id,
                 actor=actor, version=reg.version)
    return reg


def regulation_problem(value: rules.Regulation) -> str | None:
    """Why a table cannot be a regulation: bands must start at 0 or more, follow without gaps, end open; and form
    No. 1 needs the region's own addressee."""
    if not (value.addressee or "").strip():
        return gettext("Укажите, кому адресуется ходатайство (форма № 1): должность, организация и председатель "
                       "в дательном падеже.")
    if not value.bands:
        return gettext("В таблице нет ни одной строки.")
    expected = value.bands[0].min_years
    for i, band in enumerate(value.bands):
        if band.min_years != expected:
            return gettext("Строки таблицы должны идти подряд: после %(before)s лет ожидается %(expected)s.",
                           before=expected - 1, expected=expected)
        if band.max_years is None and i != len(value.bands) - 1:
            return gettext("Открытой (без верхней границы) может быть только последняя строка.")
        if band.max_years is not None and band.max_years < band.min_years:
            return gettext("Строка %(low)s–%(high)s: верхняя граница меньше нижней.", low=band.min_years,
                           high=band.max_years)
        for amount in (band.base, band.above, band.full):
            if amount < 0 or amount.as_tuple().exponent < -2:
                return gettext("Суммы — неотрицательные, не больше двух знаков после запятой.")
        expected = (band.max_years or 0) + 1
    if value.bands[-1].max_years is not None:
        return gettext("Последняя строка должна быть открытой («более N лет»).")
    if not (Decimal(0) < value.level_base_max < value.level_full):
        return gettext("Порог повышенной суммы должен быть больше нуля и меньше уровня полной надбавки.")
    return None


# ---- the registry's facts ------------------------------------------------------------------------------------


def membership_level(org: Organisation) -> Decimal | None:
    """The primary's membership level in per cent, truncated to two decimals (never rounded up to 100 %).

    Active members ÷ staff (students for a students' primary), as the passport's analytics count it
    (portal.registry.views.membership_level) but exact: a float rounded to one decimal could turn 99.96 into 100.
    """
    potential = org.potential_members
    if not potential:
        return None
    members = db.session.scalar(select(func.count()).select_from(Member).where(
        Member.org_id == org.id, Member.status == MemberStatus.ACTIVE)) or 0
    return (Decimal(members) * 100 / Decimal(potential)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def previous_approved_starts(member_id: int, exclude_id: int | None = None) -> tuple[date, ...]:
    """Treatment starts of the member's approved (or paid) aid, for the repeat interval."""
    q = select(AidPetition.treatment_start).where(
        AidPetition.member_id == member_id, AidPetition.state.in_([PetitionState.APPROVED, PetitionState.PAID]))
    if exclude_id is not None:
        q = q.where(AidPetition.id != exclude_id)
    return tuple(db.session.scalars(q))


@dataclass(frozen=True)
class TreatmentFacts:
    """What the chair types about the treatment (already typed values)."""

    sanatorium: str
    treatment_start: date
    treatment_end: date
    voucher_source: str
    payer: str
    patient: str = "member"
    pays_dues: bool = True


@dataclass(frozen=True)
class Quote:
    """The live answer for the chair's form: the amount, every problem, and the registry facts it used."""

    amount: Decimal
    problems: list[rules.Problem]
    tenure_years: int
    membership_level: Decimal | None
    regulation: AidRegulation | None

    @property
    def eligible(self) -> bool:
        return self.regulation is not None and rules.is_eligible(self.problems)


def quote_for(member: Member, treatment: TreatmentFacts, on: date | None = None) -> Quote:
    """The amount and every eligibility problem of a petition for `member` filed on `on` (default today)."""
    on = on or today()
    regulation = current_regulation(region_of(member.org), on)
    tenure = member.tenure_years(on)
    level = membership_level(member.org)
    if regulation is None:
        problem = rules.problem("regulation", N_("В региональной организации нет действующего положения о "
                                                 "материальной помощи."))
        return Quote(Decimal("0.00"), [problem], tenure, level, None)
    value = regulation.to_rules()
    facts = rules.PetitionFacts(
        tenure_years=tenure, membership_level=level, treatment_start=treatment.treatment_start,
        treatment_end=treatment.treatment_end, voucher_source=treatment.voucher_source, payer=treatment.payer,
        patient=treatment.patient, member_active=member.status == MemberStatus.ACTIVE,
        pays_dues=treatment.pays_dues, filed_on=on, previous_approved_starts=previous_approved_starts(member.id))
    problems = rules.check(value, facts)
    if open_petition(member.id) is not None:
        problems.append(rules.problem("one_open", N_("У этого члена Профсоюза уже есть ходатайство на рассмотрении.")))
    amount = rules.quote(value, tenure, level) if level is not None else Decimal("0.00")
    return Quote(amount, problems, tenure, level, regulation)


def amount_inputs(member: Member) -> dict:
    """The inputs of the amount as they stand now (the petition keeps them): the tenure start, the staff (student)
    count and the active members over it, and when, by whom and from what each input was last changed."""
    from portal.registry.operations import last_count_change, last_joined_correction

    org = member.org
    field = "student_count" if org.is_student_org else "staff_count"
    members = db.session.scalar(select(func.count()).select_from(Member).where(
        Member.org_id == org.id, Member.status == MemberStatus.ACTIVE)) or 0
    joined = last_joined_correction(member.id)
    count = last_count_change(org.id, field)
    return {
        "input_tenure_start": member.tenure_start,
        "input_tenure_changed_at": joined.at if joined else None,
        "input_tenure_changed_by": joined.actor_login if joined else "",
        "input_tenure_changed_from": joined.old_value if joined else None,
        "input_staff_count": org.potential_members,
        "input_members_count": members,
        "input_staff_changed_at": count.at if count else None,
        "input_staff_changed_by": count.actor_login if count else "",
        "input_staff_changed_from": count.old_value if count else None,
    }


def open_petition(member_id: int) -> AidPetition | None:
    return db.session.scalar(select(AidPetition).where(AidPetition.member_id == member_id,
                                                       AidPetition.state.in_(OPEN_STATES)))


def petition_problems(petition: AidPetition) -> list[rules.Problem]:
    """The petition's problems now, by the version of the regulation it was filed under."""
    return rules.check(petition.regulation.to_rules(),
                       petition.facts(previous_approved_starts(petition.member_id, exclude_id=petition.id)))


# ---- bank details ----------------------------------------------------------------------------------------------


def account_key_ok(account: str, bik: str) -> bool:
    """The Bank of Russia control key of a 20-digit account in a credit organisation (weights 7, 1, 3)."""
    digits = bik[-3:] + account
    return sum(int(d) * (7, 1, 3)[i % 3] for i, d in enumerate(digits)) % 10 == 0


def with_account_key(account: str, bik: str) -> str:
    """An account number with its control key (9th digit) set right — for demo data and tests."""
    body = account[:8] + "0" + account[9:]
    total = sum(int(d) * (7, 1, 3)[i % 3] for i, d in enumerate(bik[-3:] + body))
    return account[:8] + str((total % 10) * 3 % 10) + account[9:]


def bank_problems(account: str, bik: str, bank_name: str) -> dict[str, str]:
    """Every problem of the member's bank details, as {field: message}."""
    errors = {}
    if not (bik.isascii() and bik.isdigit() and len(bik) == 9):
        errors["bik"] = gettext("БИК — 9 цифр.")
    elif not bik.startswith("04"):
        errors["bik"] = gettext("БИК банка в России начинается с 04.")
    if not (account.isascii() and account.isdigit() and len(account) == 20):
        errors["account_number"] = gettext("Номер счёта — 20 цифр.")
    elif "bik" not in errors and not account_key_ok(account, bik):
        errors["account_number"] = gettext("Номер счёта не сходится с БИК (контрольный ключ): проверьте обе цифры.")
    if not bank_name.strip():
        errors["bank_name"] = gettext("Укажите наименование банка.")
    return errors


# ---- filing ----------------------------------------------------------------------------------------------------


def can_file_for(actor, member: Member) -> bool:
    """Only the chair of the member's own primary files (seed 004 п.4.1)."""
    from portal import policy
    from portal.auth.models import Role

    return (getattr(actor, "role", None) == Role.PRIMARY_CHAIR
            and policy.has_permission(actor, policy.Permission.FILE_AID)
            and actor.org.level == OrgLevel.PRIMARY and member.org_id == actor.org_id)


def member_aid(actor, member: Member, limit: int = 5) -> tuple[bool, list[AidPetition]]:
    """For the member card: whether the actor may file a petition for the member now (the petition form's own
    question), and the member's latest petitions the actor may see (newest first)."""
    from portal import policy

    may_file = member.status == MemberStatus.ACTIVE and can_file_for(actor, member)
    rows = list(db.session.scalars(select(AidPetition).where(AidPetition.member_id == member.id,
                                                             policy.aid_scope(actor))
                                   .order_by(AidPetition.id.desc()).limit(limit)))
    return may_file, rows


def file_petition(actor, member: Member, treatment: TreatmentFacts, profcom_decision_date: date,
                  profcom_decision_number: str, account_number: str, bik: str, bank_name: str) -> AidPetition:
    """File an eligible petition (state `filed`) with the registry's facts of today; refuse an ineligible one."""
    from sqlalchemy import insert

    from portal.flows import WorkflowHistory
    from workflows import AID_PETITION

    if not can_file_for(actor, member):
        raise AidError(gettext("Ходатайство подаёт председатель первичной организации, в которой состоит член "
                               "Профсоюза."))
    on = today()
    q = quote_for(member, treatment, on)
    blocking = [p for p in q.problems if p.blocking]
    if q.regulation is None or blocking:
        raise AidError(gettext("Ходатайство не может быть подано: %(problems)s",
                               problems=" ".join(p.label for p in blocking)), q.problems)
    if profcom_decision_date > on:
        raise AidError(gettext("Дата решения профкома не может быть в будущем."))
    if not profcom_decision_number.strip():
        raise AidError(gettext("Укажите номер протокола заседания профкома."))
    if bank_problems(account_number, bik, bank_name):
        raise AidError(gettext("Проверьте реквизиты счёта: %(problems)s",
                               problems=" ".join(bank_problems(account_number, bik, bank_name).values())))
    region = region_of(member.org)
    petition = AidPetition(
        member_id=member.id, org_id=member.org_id, region_id=region.id, regulation_id=q.regulation.id,
        state=PetitionState.FILED, version=0, filed_on=on, tenure_years=q.tenure_years,
        membership_level=q.membership_level, patient=treatment.patient, pays_dues=treatment.pays_dues,
        sanatorium=treatment.sanatorium.strip(), treatment_start=treatment.treatment_start,
        treatment_end=treatment.treatment_end, voucher_source=treatment.voucher_source, payer=treatment.payer,
        profcom_decision_date=profcom_decision_date, profcom_decision_number=profcom_decision_number.strip(),
        account_number=account_number, bik=bik, bank_name=bank_name.strip(), computed_amount=q.amount,
        amount=q.amount, filed_by_id=getattr(actor, "id", None), **amount_inputs(member))
    db.session.add(petition)
    try:
        db.session.flush()
    except IntegrityError as e:  # another chair filed for the same member a moment ago
        db.session.rollback()
        raise AidError(gettext("У этого члена Профсоюза уже есть ходатайство на рассмотрении.")) from e
    db.session.execute(insert(WorkflowHistory.__table__).values(
        workflow=AID_PETITION.name, object_type=AID_PETITION.object_type, object_id=petition.id, action="file",
        from_state="filed", to_state="filed", actor_id=getattr(actor, "id", None),
        actor_login=getattr(actor, "login", "") or "", comment=f"Сумма по Положению: {format_money(q.amount)} руб."))
    audit.record("aid_petition_filed", object_type="aid_petitions", object_id=petition.id, org_id=member.org_id,
                 actor=actor, member_id=member.id, amount=str(q.amount), tenure_start=petition.input_tenure_start,
                 staff_count=petition.input_staff_count, members_count=petition.input_members_count)
    return petition


# ---- the workflow's actions --------------------------------------------------------------------------------------


def act(petition: AidPetition, action: str, actor, *, params: dict | None = None, comment: str = "",
        expected_version: int | None = None) -> dict:
    """Fire one transition of a petition; raises WorkflowError (409) when not allowed or someone was first.

    The fields a transition's CHECKs need with the new state (the decision, the payment, the override's who and why)
    are written before the state moves; a refused or lost transition is rolled back by the caller.
    """
    from workflows import AID_PETITION, WorkflowConflict, check, fire
    from workflows.aid_petition import STAGED_FIELDS

    params = dict(params or {})
    if expected_version is not None and petition.version != expected_version:
        raise WorkflowConflict(gettext("По этому ходатайству уже принято решение или оно изменилось, пока страница "
                                       "была открыта. Обновите страницу."))
    # The workflow's own check (409 not allowed, 422 typed input wrong) before the staged fields are written.
    check(AID_PETITION, petition, action, actor, params, comment)
    staged = {
        "decision_date": params.get("decision_date"), "decision_number": (params.get("decision_number") or "").strip(),
        "is_override": True, "override_reason": comment.strip(), "override_by_id": getattr(actor, "id", None),
        "override_at": now(), "paid_on": params.get("paid_on"),
        "payment_reference": (params.get("payment_reference") or "").strip(),
    }
    for name in STAGED_FIELDS.get(action, ()):
        setattr(petition, name, staged[name])
    db.session.flush()
    entry = fire(AID_PETITION, petition, action, actor, comment=comment, params=params)
    audit.record("aid_petition_" + action, object_type="aid_petitions", object_id=petition.id,
                 org_id=petition.org_id, actor=actor, amount=str(petition.amount))
    return entry


def already_done_by(petition: AidPetition, action: str, actor) -> bool:
    """The actor's own decision is already recorded (a double click, a resubmitted form): answer it as done."""
    from workflows import AID_PETITION, history

    entries = history(AID_PETITION, petition)
    return bool(entries) and entries[-1].action == action and entries[-1].actor_id == getattr(actor, "id", None)


# ---- attachments ---------------------------------------------------------------------------------------------


def add_attachment(petition: AidPetition, actor, storage, kind: AttachmentKind) -> PetitionAttachment:
    """Check (type by content, size) and store an uploaded document of a petition; nothing is left on refusal."""
    from portal.files import FileRejected, remove_stored, store_upload

    if petition.state not in OPEN_STATES:
        raise AidError(gettext("Документы прикладываются, пока ходатайство на рассмотрении."))
    count = db.session.scalar(select(func.count()).select_from(PetitionAttachment)
                              .where(PetitionAttachment.petition_id == petition.id)) or 0
    if count >= MAX_ATTACHMENTS:
        raise AidError(gettext("К ходатайству можно приложить не больше %(n)s документов.", n=MAX_ATTACHMENTS))
    try:
        name, kind_sniffed = store_upload(storage, ATTACHMENT_AREA, max_bytes=MAX_ATTACHMENT_BYTES)
    except FileRejected as e:
        raise AidError(str(e)) from e
    from portal.files import stored_path

    size = stored_path(ATTACHMENT_AREA, name).stat().st_size
    original = (getattr(storage, "filename", "") or "")[-200:]
    att = PetitionAttachment(petition_id=petition.id, kind=kind, stored_name=name, file_type=kind_sniffed,
                             original_name=original, size=size, uploaded_by_id=getattr(actor, "id", None))
    db.session.add(att)
    try:
        db.session.flush()
    except Exception:
        remove_stored(ATTACHMENT_AREA, name)
        raise
    audit.record("aid_attachment_added", object_type="aid_petitions", object_id=petition.id,
                 org_id=petition.org_id, actor=actor, attachment_id=att.id, kind=kind.value)
    db.session.expire(petition, ["attachments"])
    return att


# ---- what the documents are made from -------------------------------------------------------------------------


def short_person_name(full_name: str) -> str:
    """«Прохоров Сергей Александрович» → «Прохоров С.А.» (as the form's addressee line writes it)."""
    parts = full_name.split()
    if not parts:
        return ""
    return parts[0] + (" " + "".join(f"{p[0]}." for p in parts[1:3]) if len(parts) > 1 else "")


def petition_doc(petition: AidPetition):
    """The values of form No. 1 for portal.documents.aid."""
    from portal.documents.aid import PetitionDoc

    kinds = []
    for a in petition.attachments:
        if a.kind.title not in kinds:
            kinds.append(a.kind.title)
    return PetitionDoc(
        number=petition.number, region_name=petition.region.name,
        chairman_name=short_person_name(petition.region.chair_name or ""), primary_name=petition.org.name,
        decision_date=petition.profcom_decision_date, decision_number=petition.profcom_decision_number,
        member_full_name=petition.member.full_name, sanatorium=petition.sanatorium,
        treatment_start=petition.treatment_start, treatment_end=petition.treatment_end,
        tenure_years=petition.tenure_years, membership_level=petition.membership_level or Decimal("0.00"),
        amount=petition.amount, chair_name=short_person_name(petition.org.chair_name or ""), filed_on=petition.filed_on,
        override_reason=petition.override_reason if petition.is_override else "", attachments=tuple(kinds),
        addressee=petition.regulation.addressee or "")


def register_rows(petitions: list[AidPetition]):
    """The accountant's payment register rows for approved petitions."""
    from portal.documents.aid import RegisterRow

    return [RegisterRow(number=p.number, member_full_name=p.member.full_name, primary_name=p.org.name,
                        amount=p.amount, decision_date=None if p.is_override else p.decision_date,
                        decision_number="" if p.is_override else p.decision_number, override=p.is_override,
                        account_number=p.account_number, bik=p.bik, bank_name=p.bank_name) for p in petitions]
