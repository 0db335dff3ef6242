"""Material aid for sanatorium treatment (SPEC §6): regulations (versioned), petitions and their attachments.

A regulation version that a petition used is never changed: editing a regulation writes a new version, and every
petition keeps the id of the version that computed its amount. Money is NUMERIC(12, 2), never float.

The addressee block of form No. 1 («Председателю … Прохорову С.А.», in the dative, one line of the form a line) is
part of the regulation and changes only with a new version, like the amounts: a filed petition prints the addressee
of the version it was filed under, so its form reads the same later, after the chairman changed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Member, Organisation, TitledEnum, _enum

MONEY = Numeric(12, 2)


class PetitionState(TitledEnum):
    FILED = "filed", N_("подано")
    REVIEWED = "reviewed", N_("проверено аппаратом")
    APPROVED = "approved", N_("помощь оказана (решение принято)")
    REJECTED = "rejected", N_("отказано")
    PAID = "paid", N_("выплачено")


OPEN_STATES = (PetitionState.FILED, PetitionState.REVIEWED)


class AttachmentKind(TitledEnum):
    PROOF = "proof", N_("копия отрывного талона или документ о прохождении лечения")
    CARD_COPY = "card_copy", N_("копия профсоюзной карточки")
    BANK_DETAILS = "bank_details", N_("реквизиты счёта")
    OTHER = "other", N_("иной документ")


class AidRegulation(db.Model):
    """One version of a regional organisation's regulation on material aid, with its validity period."""

    __tablename__ = "aid_regulations"
    __table_args__ = (
        UniqueConstraint("org_id", "version", name="uq_aid_regulations_org_version"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_period"),
        CheckConstraint("min_tenure_years >= 0 AND min_stay_days >= 1 AND repeat_interval_days >= 0",
                        name="conditions_nonnegative"),
        CheckConstraint("level_base_max > 0 AND level_full > level_base_max", name="levels_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    level_base_max: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    level_full: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    min_tenure_years: Mapped[int] = mapped_column(Integer)
    min_stay_days: Mapped[int] = mapped_column(Integer)
    repeat_interval_days: Mapped[int] = mapped_column(Integer)
    excluded_sources: Mapped[str] = mapped_column(String(300))  # comma-separated codes of workflows.aid
    allowed_payers: Mapped[str] = mapped_column(String(300))
    approved_by: Mapped[str] = mapped_column(String(300), default="")  # e.g. the presidium decision
    # Form No. 1's addressee block as it stands on the form ("" -> the region's name and chairman, undeclined).
    addressee: Mapped[str] = mapped_column(Text, default="")
    # The region's own union voucher programme (seed 004 п. 3.1: «ООО «Саратовкурорт»» for Saratov); "" when the
    # region has none named. Shown wherever the programme is offered, never another region's.
    programme_name: Mapped[str] = mapped_column(String(300), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    org: Mapped[Organisation] = relationship()
    bands: Mapped[list[AidRegulationBand]] = relationship(back_populates="regulation",
                                                          order_by="AidRegulationBand.min_years",
                                                          cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<AidRegulation {self.id} org={self.org_id} v{self.version}>"

    def to_rules(self):
        """The plain value the rules read (workflows.aid.Regulation)."""
        from workflows import aid as rules

        return rules.Regulation(
            bands=tuple(rules.Band(b.min_years, b.max_years, b.amount_base, b.amount_above, b.amount_full)
                        for b in self.bands),
            level_base_max=self.level_base_max, level_full=self.level_full, min_tenure_years=self.min_tenure_years,
            min_stay_days=self.min_stay_days, repeat_interval_days=self.repeat_interval_days,
            excluded_sources=tuple(s for s in self.excluded_sources.split(",") if s),
            allowed_payers=tuple(s for s in self.allowed_payers.split(",") if s), title=self.title,
            addressee=self.addressee or "", programme_name=self.programme_name or "")

    @classmethod
    def from_rules(cls, value, **fields) -> AidRegulation:
        """A new (unsaved) version holding a plain regulation (workflows.aid.Regulation)."""
        reg = cls(title=value.title, level_base_max=value.level_base_max, level_full=value.level_full,
                  min_tenure_years=value.min_tenure_years, min_stay_days=value.min_stay_days,
                  repeat_interval_days=value.repeat_interval_days,
                  excluded_sources=",".join(value.excluded_sources), allowed_payers=",".join(value.allowed_payers),
                  addressee=value.addressee, programme_name=value.programme_name, **fields)
        reg.bands = [AidRegulationBand(min_years=b.min_years, max_years=b.max_years, amount_base=b.base,
                                       amount_above=b.above, amount_full=b.full) for b in value.bands]
        return reg


class AidRegulationBand(db.Model):
    """One row of the regulation's table: a tenure band and its three amounts."""

    __tablename__ = "aid_regulation_bands"
    __table_args__ = (
        UniqueConstraint("regulation_id", "min_years", name="uq_aid_regulation_bands_start"),
        CheckConstraint("min_years >= 0 AND (max_years IS NULL OR max_years >= min_years)", name="band_order"),
        CheckConstraint("amount_base >= 0 AND amount_above >= 0 AND amount_full >= 0", name="amounts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    regulation_id: Mapped[int] = mapped_column(ForeignKey("aid_regulations.id"))
    min_years: Mapped[int] = mapped_column(Integer)
    max_years: Mapped[int | None] = mapped_column(Integer)
    amount_base: Mapped[Decimal] = mapped_column(MONEY)
    amount_above: Mapped[Decimal] = mapped_column(MONEY)
    amount_full: Mapped[Decimal] = mapped_column(MONEY)

    regulation: Mapped[AidRegulation] = relationship(back_populates="bands")

    def __repr__(self) -> str:
        return f"<AidRegulationBand {self.min_years}-{self.max_years}>"


class AidPetition(db.Model):
    """A primary's petition (ходатайство, form No. 1) for one member's material aid, and its way to payment."""

    __tablename__ = "aid_petitions"
    __table_args__ = (
        Index("ix_aid_petitions_region_state", "region_id", "state"),
        Index("ix_aid_petitions_member", "member_id"),
        Index("ix_aid_petitions_org", "org_id"),
        # One open petition per member, also under two chairs filing at once.
        Index("uq_aid_petitions_open_member", "member_id", unique=True,
              sqlite_where=text("state IN ('filed', 'reviewed')"),
              postgresql_where=text("state IN ('filed', 'reviewed')")),
        CheckConstraint("treatment_end >= treatment_start", name="treatment_order"),
        CheckConstraint("computed_amount >= 0 AND amount >= 0", name="amounts_nonnegative"),
        CheckConstraint("length(account_number) = 20 AND length(bik) = 9", name="bank_details_length"),
        CheckConstraint("NOT is_override OR (override_reason <> '' AND override_by_id IS NOT NULL "
                        "AND override_at IS NOT NULL)", name="override_recorded"),
        CheckConstraint("state NOT IN ('approved', 'rejected', 'paid') OR is_override "
                        "OR (decision_date IS NOT NULL AND decision_number <> '')", name="decision_recorded"),
        CheckConstraint("state <> 'paid' OR (paid_on IS NOT NULL AND payment_reference <> '')",
                        name="payment_recorded"),
        CheckConstraint("NOT (is_override AND state = 'rejected')", name="override_never_rejects"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))  # the primary at filing
    region_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    regulation_id: Mapped[int] = mapped_column(ForeignKey("aid_regulations.id"))
    state: Mapped[PetitionState] = mapped_column(_enum(PetitionState, "aid_petition_state"),
                                                 default=PetitionState.FILED)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The registry's facts on the filing date, as the petition states them.
    filed_on: Mapped[date] = mapped_column(Date)
    tenure_years: Mapped[int] = mapped_column(Integer)
    membership_level: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    patient: Mapped[str] = mapped_column(String(12), default="member")
    pays_dues: Mapped[bool] = mapped_column(Boolean, default=True)
    # Treatment facts.
    sanatorium: Mapped[str] = mapped_column(String(300))
    treatment_start: Mapped[date] = mapped_column(Date)
    treatment_end: Mapped[date] = mapped_column(Date)
    voucher_source: Mapped[str] = mapped_column(String(24))
    payer: Mapped[str] = mapped_column(String(24))
    profcom_decision_date: Mapped[date] = mapped_column(Date)
    profcom_decision_number: Mapped[str] = mapped_column(String(40))
    # Bank details of the member's account.
    account_number: Mapped[str] = mapped_column(String(20))
    bik: Mapped[str] = mapped_column(String(9))
    bank_name: Mapped[str] = mapped_column(String(200))
    # Money: what the regulation gives, and what is to be paid (differs only after an override).
    computed_amount: Mapped[Decimal] = mapped_column(MONEY)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The inputs the amount was computed from, as they stood at filing, and when and by whom each was last changed
    # (issue 10: the filing chair also keeps the joining date and the staff count; reviewers must see that).
    input_tenure_start: Mapped[date | None] = mapped_column(Date)
    input_tenure_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    input_tenure_changed_by: Mapped[str] = mapped_column(String(80), default="", server_default="")
    input_tenure_changed_from: Mapped[date | None] = mapped_column(Date)
    input_staff_count: Mapped[int | None] = mapped_column(Integer)  # staff, or students for a students' primary
    input_members_count: Mapped[int | None] = mapped_column(Integer)
    input_staff_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    input_staff_changed_by: Mapped[str] = mapped_column(String(80), default="", server_default="")
    input_staff_changed_from: Mapped[int | None] = mapped_column(Integer)
    # The presidium's decision (approved or rejected).
    decision_date: Mapped[date | None] = mapped_column(Date)
    decision_number: Mapped[str] = mapped_column(String(40), default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The regional chairman's override (seed 004 п.4.5): who, when, why, and what it changed.
    is_override: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str] = mapped_column(Text, default="")
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    override_before: Mapped[str] = mapped_column(Text, default="")  # JSON: state and amount before
    override_after: Mapped[str] = mapped_column(Text, default="")  # JSON: state, amount, conditions after
    # The payment.
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_reference: Mapped[str] = mapped_column(String(60), default="")
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[Member] = relationship()
    org: Mapped[Organisation] = relationship(foreign_keys=[org_id])
    region: Mapped[Organisation] = relationship(foreign_keys=[region_id])
    regulation: Mapped[AidRegulation] = relationship()
    attachments: Mapped[list[PetitionAttachment]] = relationship(back_populates="petition",
                                                                 order_by="PetitionAttachment.id")

    def __repr__(self) -> str:
        return f"<AidPetition {self.id} member={self.member_id} {self.state.value}>"

    @property
    def tenure_input_flagged(self) -> bool:
        """The joining date was corrected within a year before filing."""
        return _recent(self.input_tenure_changed_at, self.filed_on)

    @property
    def staff_input_flagged(self) -> bool:
        """The staff (student) count was changed within a year before filing."""
        return _recent(self.input_staff_changed_at, self.filed_on)

    @property
    def number(self) -> str:
        return f"МП-{self.filed_on.year}-{self.id:06d}"

    def facts(self, previous_approved_starts: tuple[date, ...] = ()):
        """The plain value the rules read (workflows.aid.PetitionFacts), as recorded at filing; the member's
        status as it is now."""
        from portal.registry.models import MemberStatus
        from workflows import aid as rules

        return rules.PetitionFacts(
            tenure_years=self.tenure_years, membership_level=self.membership_level,
            treatment_start=self.treatment_start, treatment_end=self.treatment_end,
            voucher_source=self.voucher_source, payer=self.payer, patient=self.patient,
            member_active=self.member.status == MemberStatus.ACTIVE, pays_dues=self.pays_dues,
            filed_on=self.filed_on, previous_approved_starts=previous_approved_starts)


def _recent(changed_at: datetime | None, filed_on: date) -> bool:
    """Changed within a year (365 days) before the filing date, or after it."""
    if changed_at is None:
        return False
    return changed_at.date() >= filed_on - timedelta(days=INPUT_FLAG_DAYS)


# A change of an amount's input this close before filing is flagged to the reviewers and the presidium.
INPUT_FLAG_DAYS = 365


class PetitionAttachment(db.Model):
    """A document attached to a petition: stored under a random name outside the web root, typed by content."""

    __tablename__ = "aid_attachments"
    __table_args__ = (Index("ix_aid_attachments_petition", "petition_id", "id"),
                      CheckConstraint("size > 0", name="size_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("aid_petitions.id"))
    kind: Mapped[AttachmentKind] = mapped_column(_enum(AttachmentKind, "aid_attachment_kind"))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    file_type: Mapped[str] = mapped_column(String(8))  # pdf, jpeg, png (sniffed)
    original_name: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    petition: Mapped[AidPetition] = relationship(back_populates="attachments")

    def __repr__(self) -> str:
        return f"<PetitionAttachment {self.id} petition={self.petition_id} {self.kind.value}>"
