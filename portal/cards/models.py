"""Electronic union cards (ЭПБ), card requests and production batches (SPEC §5)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Member, Organisation, TitledEnum, _enum


class RequestState(TitledEnum):
    DRAFT = "draft", N_("черновик")
    SUBMITTED = "submitted", N_("отправлена")
    PROCESSED = "processed", N_("обработана")
    SHIPPED = "shipped", N_("отправлены карты")
    RECEIVED = "received", N_("получены карты")
    ISSUED = "issued", N_("выдана")
    CANCELLED = "cancelled", N_("отменена")


class CardState(TitledEnum):
    ORDERED = "ordered", N_("заказан")
    PRODUCED = "produced", N_("изготовлен")
    SHIPPED = "shipped", N_("отправлен")
    RECEIVED = "received", N_("получен")
    ISSUED = "issued", N_("ВЫДАН")
    LOST = "lost", N_("утерян")
    BLOCKED = "blocked", N_("заблокирован")
    REISSUED = "reissued", N_("перевыпущен")


class CardRequest(db.Model):
    """A primary's request to produce cards for some of its members (заявка на выпуск ЭПБ)."""

    __tablename__ = "card_requests"
    __table_args__ = (Index("ix_card_requests_org", "org_id", "state"), Index("ix_card_requests_state", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    state: Mapped[RequestState] = mapped_column(_enum(RequestState, "request_state"), default=RequestState.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("production_batches.id"))
    processed_on: Mapped[date | None] = mapped_column(Date)
    shipped_on: Mapped[date | None] = mapped_column(Date)
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    received_on: Mapped[date | None] = mapped_column(Date)  # the regional office recorded the shipment's arrival
    issued_on: Mapped[date | None] = mapped_column(Date)

    org: Mapped[Organisation] = relationship()
    items: Mapped[list[CardRequestItem]] = relationship(back_populates="request", order_by="CardRequestItem.id")

    def __repr__(self) -> str:
        return f"<CardRequest {self.id} org={self.org_id} {self.state.value}>"


# Why a member of a submitted request was left out when it was processed (SPEC §4–§5): the code is stored, the
# title shown (translated on pages). A member left out gets no card number and is not in the producer's manifest.
EXCLUSION_TITLES = {
    "consent_withdrawn": N_("согласие на обработку персональных данных отозвано"),
    "no_consent": N_("нет действующего согласия на обработку персональных данных"),
    "not_member": N_("не состоит на учёте в Профсоюзе"),
}


class CardRequestItem(db.Model):
    """A member in a card request, and the card made for them — or why they were left out at processing."""

    __tablename__ = "card_request_items"
    __table_args__ = (UniqueConstraint("request_id", "member_id", name="uq_card_request_items_member"),
                      Index("ix_card_request_items_member", "member_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("card_requests.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    excluded_reason: Mapped[str] = mapped_column(String(24), default="")  # a key of EXCLUSION_TITLES, "" if included
    excluded_on: Mapped[date | None] = mapped_column(Date)

    request: Mapped[CardRequest] = relationship(back_populates="items")
    member: Mapped[Member] = relationship()
    card: Mapped[Card | None] = relationship()

    def __repr__(self) -> str:
        return f"<CardRequestItem {self.id} request={self.request_id} member={self.member_id}>"

    @property
    def excluded(self) -> bool:
        return bool(self.excluded_reason)

    @property
    def excluded_title(self) -> str:
        return EXCLUSION_TITLES.get(self.excluded_reason, self.excluded_reason)


class Card(db.Model):
    """One plastic/virtual card with a unique, never reused number (16 digits, Luhn check digit)."""

    __tablename__ = "cards"
    __table_args__ = (Index("ix_cards_member", "member_id"), CheckConstraint("length(number) = 16", name="number_16"))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("card_requests.id"))
    state: Mapped[CardState] = mapped_column(_enum(CardState, "card_state"), default=CardState.ORDERED)
    version: Mapped[int] = mapped_column(Integer, default=0)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    issued_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    member: Mapped[Member] = relationship()

    def __repr__(self) -> str:
        return f"<Card {self.id} ****{self.number[-4:]} {self.state.value}>"

    @property
    def org(self):
        return self.member.org


class ProductionBatch(db.Model):
    """The requests processed together at one cut-off (the 1st or the 15th), with the producer's manifest."""

    __tablename__ = "production_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True), unique=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    requests: Mapped[int] = mapped_column(Integer, default=0)
    cards: Mapped[int] = mapped_column(Integer, default=0)
    manifest_xlsx: Mapped[str] = mapped_column(String(255), default="")
    manifest_csv: Mapped[str] = mapped_column(String(255), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # Rows of members who later withdrew consent, removed from the kept manifests (`cards` stays the number of cards
    # allocated); stripped_at: when the files were last rewritten.
    rows_stripped: Mapped[int] = mapped_column(Integer, default=0)
    stripped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<ProductionBatch {self.id} {self.cutoff:%Y-%m-%d}>"


class Counter(db.Model):
    """Named counters advanced atomically (card numbers are never reused, even after a rollback elsewhere)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<Counter {self.name}={self.value}>"
