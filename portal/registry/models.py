"""The registry: organisations (a tree), members and their membership history.

The subtree of an organisation is found by its materialised path (``/1/7/42/``) with a btree index that
serves ``LIKE 'prefix%'`` on both SQLite and PostgreSQL (``text_pattern_ops``); nothing walks the tree in Python.
Member search uses stored folded columns (lower case, ё→е), because SQLite's LIKE does not fold Cyrillic and
PostgreSQL's would need a function index per collation.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import full_years, today
from portal.extensions import db
from portal.i18n import N_, lazy, tr
from portal.text import fold


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, the same on SQLite and PostgreSQL."""
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=24,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class TitledEnum(str, enum.Enum):
    """An enum whose members carry a Russian title for pages, exports and error messages."""

    def __new__(cls, value: str, title: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.title = title
        return obj

    @property
    def label(self) -> str:
        """The title in the interface language; `title` itself stays Russian (imports, exports, documents match it)."""
        return tr(self.title)

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """Select choices; the labels translate when the form is rendered."""
        return [(m.value, lazy(m.title)) for m in cls]

    @classmethod
    def by_title(cls, text: str):
        """Find a member by its title or value, ignoring case, spaces and ё; None if nothing matches."""
        key = fold(text)
        for m in cls:
            if key in (fold(m.title), fold(m.value)) or key in getattr(m, "aliases", ()):
                return m
        return None


class OrgLevel(TitledEnum):
    CENTRAL = "central", N_("Центральный совет")
    REGIONAL = "regional", N_("Региональная организация")
    TERRITORIAL = "territorial", N_("Территориальная организация")
    PRIMARY = "primary", N_("Первичная организация")


# Which level may hang under which (a primary may hang directly under a regional organisation).
ALLOWED_PARENTS = {
    OrgLevel.CENTRAL: (),
    OrgLevel.REGIONAL: (OrgLevel.CENTRAL,),
    OrgLevel.TERRITORIAL: (OrgLevel.REGIONAL,),
    OrgLevel.PRIMARY: (OrgLevel.REGIONAL, OrgLevel.TERRITORIAL),
}


class InstitutionKind(TitledEnum):
    SCHOOL = "school", N_("Общеобразовательная организация")
    KINDERGARTEN = "kindergarten", N_("Дошкольная образовательная организация")
    COLLEGE = "college", N_("Профессиональная образовательная организация")
    UNIVERSITY = "university", N_("Образовательная организация высшего образования")
    STUDENTS = "students", N_("Студенческая первичная организация")
    EXTRA = "extra", N_("Организация дополнительного образования")
    OTHER = "other", N_("Иная организация")


class Gender(TitledEnum):
    MALE = "M", N_("мужской")
    FEMALE = "F", N_("женский")


Gender.MALE.aliases = ("м", "муж", "муж.", "мужской", "m", "male")
Gender.FEMALE.aliases = ("ж", "жен", "жен.", "женский", "f", "female")


class Education(TitledEnum):
    HIGHER = "higher", N_("высшее")
    SECONDARY_VOCATIONAL = "secondary_vocational", N_("среднее профессиональное")
    SECONDARY = "secondary", N_("среднее общее")
    BASIC = "basic", N_("основное общее")
    INCOMPLETE_HIGHER = "incomplete_higher", N_("неполное высшее")


Education.SECONDARY_VOCATIONAL.aliases = ("среднее специальное", "спо", "среднее проф.", "среднее-профессиональное")
Education.SECONDARY.aliases = ("среднее",)


class DuesForm(TitledEnum):
    CASHLESS = "cashless", N_("безналичная")
    CASH = "cash", N_("наличная")


DuesForm.CASHLESS.aliases = ("безнал", "безналичный", "по заявлению", "удержание из зарплаты")
DuesForm.CASH.aliases = ("нал", "наличный", "наличными")


class Category(TitledEnum):
    WORKING = "working", N_("работающий")
    STUDENT = "student", N_("обучающийся")
    PENSIONER = "pensioner", N_("неработающий пенсионер")


Category.WORKING.aliases = ("работающие", "работник")
Category.STUDENT.aliases = ("студент", "студенты", "обучающиеся", "учащийся")
Category.PENSIONER.aliases = ("пенсионер", "неработающие пенсионеры", "неработающий пенсионер")


class MemberStatus(TitledEnum):
    ACTIVE = "active", N_("состоит на учёте")
    LEFT = "left", N_("выбыл по собственному желанию")
    EXCLUDED = "excluded", N_("исключён")


class ConsentStatus(TitledEnum):
    NONE = "none", N_("нет согласия")
    PRINTED = "printed", N_("согласие распечатано")
    SIGNED = "signed", N_("согласие подписано")
    TRANSFERRED = "transferred", N_("передано в ПРОФКАРДС")
    WITHDRAWN = "withdrawn", N_("согласие отозвано")


class CardStatus(TitledEnum):
    NOT_ORDERED = "not_ordered", N_("не заказан")
    ORDERED = "ordered", N_("заказан")
    PRODUCED = "produced", N_("изготовлен")
    SHIPPED = "shipped", N_("отправлен")
    RECEIVED = "received", N_("получен")
    ISSUED = "issued", N_("ВЫДАН")
    LOST = "lost", N_("утерян")
    BLOCKED = "blocked", N_("заблокирован")
    REISSUED = "reissued", N_("перевыпущен")


class EventKind(TitledEnum):
    JOINED = "joined", N_("вступление в Профсоюз")
    TRANSFERRED = "transferred", N_("перевод в другую первичную организацию")
    LEFT = "left", N_("выход по собственному желанию")
    EXCLUDED = "excluded", N_("исключение из Профсоюза")
    READMITTED = "readmitted", N_("повторное принятие")


class Organisation(db.Model):
    """An organisation of the union at any level, with its electronic passport."""

    __tablename__ = "organisations"
    __table_args__ = (
        Index("ix_organisations_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_organisations_parent_id", "parent_id"),
        CheckConstraint("staff_count IS NULL OR staff_count >= 0", name="staff_nonnegative"),
        CheckConstraint("student_count IS NULL OR student_count >= 0", name="students_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    level: Mapped[OrgLevel] = mapped_column(_enum(OrgLevel, "org_level"))
    # Materialised path of ids, '/1/7/42/'; a subtree is every row whose path starts with this one.
    path: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(500))
    short_name: Mapped[str] = mapped_column(String(200), default="")
    name_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The union organisation's own INN (the personal-data operator on the consent form), never the employer's.
    inn: Mapped[str] = mapped_column(String(12), default="")
    # The employer (school, kindergarten, university) the primary organisation is formed at: members' «место работы
    # (учёбы)» on every card, consent and export. The union organisation («Первичная профсоюзная организация …») is
    # the operator, never the workplace (migration 0007 derived this from the name for existing primaries).
    institution_name: Mapped[str] = mapped_column(String(500), default="", server_default="")
    institution_inn: Mapped[str] = mapped_column(String(12), default="", server_default="")
    kind: Mapped[InstitutionKind | None] = mapped_column(_enum(InstitutionKind, "institution_kind"))
    address: Mapped[str] = mapped_column(String(500), default="")
    chair_name: Mapped[str] = mapped_column(String(200), default="")
    chair_phone: Mapped[str] = mapped_column(String(40), default="")
    chair_email: Mapped[str] = mapped_column(String(200), default="")
    chair_gender: Mapped[Gender | None] = mapped_column(_enum(Gender, "chair_gender"))
    chair_released: Mapped[bool] = mapped_column(default=False)  # «освобождённый» (paid) chair
    staff_count: Mapped[int | None] = mapped_column(Integer)
    student_count: Mapped[int | None] = mapped_column(Integer)
    committee_size: Mapped[int | None] = mapped_column(Integer)
    audit_commission_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), onupdate=func.now())

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent", order_by="Organisation.name")

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.level.value} {self.short_name or self.name!r}>"

    def __str__(self) -> str:
        return self.short_name or self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this organisation, read from the path."""
        return [int(p) for p in self.path.strip("/").split("/") if p]

    @property
    def is_student_org(self) -> bool:
        return self.kind == InstitutionKind.STUDENTS

    @property
    def potential_members(self) -> int | None:
        """People who could be members: students for a students' primary, staff otherwise."""
        return self.student_count if self.is_student_org else self.staff_count

    @property
    def employer(self) -> str:
        """The institution the members work (study) at, as its passport names it ("" when not given)."""
        return " ".join((self.institution_name or "").split())

    PASSPORT_REQUIRED = ("name", "short_name", "inn", "kind", "address", "chair_name", "chair_phone", "chair_email")

    def passport_missing(self) -> list[str]:
        """Names of the passport fields still empty (the checklist's first step)."""
        missing = [f for f in self.PASSPORT_REQUIRED if not getattr(self, f)]
        if self.potential_members is None:
            missing.append("student_count" if self.is_student_org else "staff_count")
        return missing


class Member(db.Model):
    """A union member's registration card (учётная карточка); one row per person, history in MemberEvent."""

    __tablename__ = "members"
    __table_args__ = (
        # A primary chair's list, sorted by name, and the subtree surname-prefix search (one probe per organisation).
        Index("ix_members_org_name", "org_id", "last_name_folded", "id",
              postgresql_ops={"last_name_folded": "text_pattern_ops"}),
        Index("ix_members_name", "last_name_folded", postgresql_ops={"last_name_folded": "text_pattern_ops"}),
        Index("ix_members_person_key", "person_key", unique=True),
        # The members whose birthday crosses an age band's boundary on a day (portal.stats: the daily age job and a
        # live report's adjustment from the kept bands' date to its own): a few hundred rows by a range, not a scan.
        Index("ix_members_birth_date", "birth_date"),
        # Only the numbers given: a member has none until the card is ordered (migration 0005).
        Index("ix_members_card_number", "card_number", unique=True, postgresql_where=text("card_number IS NOT NULL"),
              sqlite_where=text("card_number IS NOT NULL")),
        CheckConstraint("joined_on >= birth_date", name="joined_after_birth"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    patronymic: Mapped[str] = mapped_column(String(100), default="")
    last_name_folded: Mapped[str] = mapped_column(String(100))
    # Duplicate key: folded full name + birth date; one registration per person in the whole registry.
    person_key: Mapped[str] = mapped_column(String(320))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[Gender] = mapped_column(_enum(Gender, "gender"))
    department: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[str] = mapped_column(String(200))
    education: Mapped[Education] = mapped_column(_enum(Education, "education"))
    dues_form: Mapped[DuesForm] = mapped_column(_enum(DuesForm, "dues_form"))
    joined_on: Mapped[date] = mapped_column(Date)
    # Tenure counts from here: the joining date, or the re-admission date after leaving/exclusion.
    tenure_start: Mapped[date] = mapped_column(Date)
    category: Mapped[Category] = mapped_column(_enum(Category, "category"))
    address: Mapped[str] = mapped_column(String(500), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    # The identity document 152-FZ art. 9 part 4 asks the consent form to name: optional in the registry,
    # required to print the consent (CONSENT_REQUIRED). Personal data: read only through the audited card pages.
    id_doc_type: Mapped[str] = mapped_column(String(100), default="", server_default="")
    id_doc_number: Mapped[str] = mapped_column(String(40), default="", server_default="")
    id_doc_issued_on: Mapped[date | None] = mapped_column(Date)
    id_doc_issuer: Mapped[str] = mapped_column(String(300), default="", server_default="")
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus, "member_status"), default=MemberStatus.ACTIVE)
    status_since: Mapped[date | None] = mapped_column(Date)
    consent_status: Mapped[ConsentStatus] = mapped_column(_enum(ConsentStatus, "consent_status"),
                                                          default=ConsentStatus.NONE)
    # Optimistic version of the consent workflow (workflows/consent.py): two simultaneous transitions, one wins.
    consent_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the bonus programme was last told: "" (nothing), "signed" or "withdrawn" — the daily delta compares to it.
    consent_exported: Mapped[str] = mapped_column(String(12), default="", server_default="")
    card_status: Mapped[CardStatus] = mapped_column(_enum(CardStatus, "card_status"), default=CardStatus.NOT_ORDERED)
    card_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), onupdate=func.now())

    org: Mapped[Organisation] = relationship()
    events: Mapped[list[MemberEvent]] = relationship(back_populates="member", order_by="MemberEvent.id")

    def __repr__(self) -> str:
        return f"<Member {self.id} org={self.org_id}>"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)

    @property
    def short_name(self) -> str:
        initials = "".join(f"{p[0]}." for p in (self.first_name, self.patronymic) if p)
        return f"{self.last_name} {initials}".strip()

    @property
    def workplace(self) -> str:
        """«Место работы (учёбы)»: the employer from the organisation's passport, then the member's department
        (the member's own department alone when the passport names no institution) — never the union organisation."""
        return ", ".join(p for p in (self.org.employer, " ".join((self.department or "").split())) if p)

    def consent_missing(self) -> list[str]:
        """What the consent form needs (152-FZ art. 9 part 4) and the card or the passport lack, as keys of
        CONSENT_FIELD_TITLES; empty: the consent may be printed."""
        missing = [f for f in CONSENT_REQUIRED if not getattr(self, f)]
        if not self.workplace:
            missing.insert(0, "workplace")
        if not (self.org.address or "").strip():
            missing.append("operator_address")
        return missing

    def tenure_years(self, on: date | None = None) -> int:
        """Full years of union tenure (профсоюзный стаж) on a date; transfers keep it, re-admission restarts it."""
        return full_years(self.tenure_start, on or today())

    def age(self, on: date | None = None) -> int:
        return full_years(self.birth_date, on or today())

    def refresh_keys(self) -> None:
        """Recompute the stored search and duplicate keys after a name or birth-date change."""
        self.last_name_folded = fold(self.last_name)
        self.person_key = person_key(self.last_name, self.first_name, self.patronymic, self.birth_date)

    MANDATORY = ("last_name", "first_name", "birth_date", "gender", "position", "education", "dues_form",
                 "joined_on", "category")


# What the consent form must name about the subject (152-FZ art. 9 part 4 p. 1): the address and the identity
# document with its number, date of issue and issuer. Optional on the card, required to print the consent.
CONSENT_REQUIRED = ("address", "id_doc_type", "id_doc_number", "id_doc_issued_on", "id_doc_issuer")
# Their names in messages (msgids): the chair is told exactly what to fill in.
CONSENT_FIELD_TITLES = {
    "workplace": N_("место работы (учёбы): наименование учреждения в паспорте организации или подразделение в карточке"),
    "address": N_("адрес места жительства"),
    "id_doc_type": N_("вид документа, удостоверяющего личность"),
    "id_doc_number": N_("серия и номер документа"),
    "id_doc_issued_on": N_("дата выдачи документа"),
    "id_doc_issuer": N_("кем выдан документ"),
    "operator_address": N_("адрес профсоюзной организации (оператора) в паспорте организации"),
}


def person_key(last: str, first: str, patronymic: str, birth: date) -> str:
    """The duplicate key: surname, name and patronymic folded (case, spaces, ё) plus the birth date."""
    return f"{fold(last)}|{fold(first)}|{fold(patronymic)}|{birth.isoformat()}"


class MemberEvent(db.Model):
    """One entry of a member's history: joined, transferred, left, excluded, re-admitted."""

    __tablename__ = "member_events"
    __table_args__ = (
        Index("ix_member_events_member", "member_id", "id"),
        # Joined / transferred / left during a period, per organisation of a subtree (portal.stats.report): a range
        # per organisation instead of a scan of every event. Leaving and transfers only: joining has no "from".
        # With the kind: an index-only scan, no visit of each event's row.
        Index("ix_member_events_to_org", "to_org_id", "on_date", "kind"),
        Index("ix_member_events_from_org", "from_org_id", "on_date", "kind", postgresql_where=text("from_org_id IS NOT NULL"),
              sqlite_where=text("from_org_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    on_date: Mapped[date] = mapped_column(Date)
    from_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    to_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    member: Mapped[Member] = relationship(back_populates="events")
    from_org: Mapped[Organisation | None] = relationship(foreign_keys=[from_org_id])
    to_org: Mapped[Organisation | None] = relationship(foreign_keys=[to_org_id])

    def __repr__(self) -> str:
        return f"<MemberEvent {self.id} {self.kind.value} member={self.member_id}>"


class MemberCorrection(db.Model):
    """A recorded correction of a member's joining date (an input of aid amounts): old and new value, the reason,
    who and when. Append-only; the card form cannot change the date (portal.registry.operations.correct_joined_on)."""

    __tablename__ = "member_corrections"
    __table_args__ = (Index("ix_member_corrections_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[date | None] = mapped_column(Date)
    new_value: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_login: Mapped[str] = mapped_column(String(80), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<MemberCorrection {self.id} member={self.member_id} {self.field}>"


class OrgCountChange(db.Model):
    """One change of an organisation's staff or student count (the denominator of the membership level, an input
    of aid amounts): old → new, who and when. Written by every passport save that changes a count."""

    __tablename__ = "org_count_changes"
    __table_args__ = (Index("ix_org_count_changes_org", "org_id", "field", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    field: Mapped[str] = mapped_column(String(40))  # staff_count | student_count
    old_value: Mapped[int | None] = mapped_column(Integer)
    new_value: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_login: Mapped[str] = mapped_column(String(80), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<OrgCountChange {self.id} org={self.org_id} {self.field} {self.old_value}->{self.new_value}>"


class CorrectionStatus(TitledEnum):
    OPEN = "open", N_("на рассмотрении")
    DONE = "done", N_("исправлено")
    DECLINED = "declined", N_("отклонено")


class CorrectionRequest(db.Model):
    """A chair's request to the organisation above to correct what they may not change themselves (seed 002, step 3)."""

    __tablename__ = "correction_requests"
    __table_args__ = (Index("ix_correction_requests_to_org", "to_org_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    to_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[CorrectionStatus] = mapped_column(_enum(CorrectionStatus, "correction_status"),
                                                     default=CorrectionStatus.OPEN)
    answer: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organisation] = relationship(foreign_keys=[org_id])
    to_org: Mapped[Organisation] = relationship(foreign_keys=[to_org_id])

    def __repr__(self) -> str:
        return f"<CorrectionRequest {self.id} org={self.org_id} {self.status.value}>"
