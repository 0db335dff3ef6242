"""Guards (yes/no questions with a Russian answer for "no") and effects named by the workflow definitions."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from portal.clock import today
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus
from portal.text import gendered
from workflows.engine import InputProblem, effect, guard

# ---- shared -----------------------------------------------------------------------------------------------------


def _member(obj) -> Member:
    return obj if isinstance(obj, Member) else obj.member


@guard("member_is_active")
def member_is_active(obj, actor, params):
    if _member(obj).status != MemberStatus.ACTIVE:
        return gettext("Человек не состоит на учёте в Профсоюзе.")
    return None


def _date_param(params, key) -> date | None:
    value = params.get(key)
    return value if isinstance(value, date) else None


# ---- consent ----------------------------------------------------------------------------------------------------


@guard("signed_on_is_valid", checks_input=True)
def signed_on_is_valid(member, actor, params):
    signed_on = _date_param(params, "on_date")
    if signed_on is None:
        return InputProblem("on_date", gettext("Укажите дату подписания согласия."))
    if signed_on > today():
        return InputProblem("on_date", gettext("Дата подписания не может быть в будущем."))
    if signed_on < member.joined_on.replace(year=max(member.joined_on.year - 1, 1)):
        return InputProblem("on_date", gettext("Дата подписания раньше вступления в Профсоюз."))
    return None


@guard("withdrawn_on_is_valid", checks_input=True)
def withdrawn_on_is_valid(member, actor, params):
    on = _date_param(params, "on_date")
    if on is None:
        return InputProblem("on_date", gettext("Укажите дату отзыва согласия."))
    if on > today():
        return InputProblem("on_date", gettext("Дата отзыва не может быть в будущем."))
    return None


def _record(member, actor, kind, params, **extra):
    """A consent record to append (append-only): the engine writes it in the transition's own statement."""
    from portal.consent.models import ConsentRecord

    return [(ConsentRecord.__table__, {
        "member_id": member.id, "kind": kind, "on_date": params.get("on_date") or today(),
        "actor_id": getattr(actor, "id", None), "note": params.get("comment", ""), **extra})]


@effect("consent_printed", rows=True)
def consent_printed(member, actor, params):
    return _record(member, actor, "printed", params)


@effect("consent_signed", rows=True)
def consent_signed(member, actor, params):
    return _record(member, actor, "signed", params, scan_name=params.get("scan_name", ""),
                   scan_type=params.get("scan_type", ""))


@effect("consent_transferred", rows=True)
def consent_transferred(member, actor, params):
    return _record(member, actor, "transferred", params, export_id=params.get("export_id"))


@effect("consent_withdrawn", rows=True)
def consent_withdrawn(member, actor, params):
    return _record(member, actor, "withdrawn", params)


# ---- card requests ----------------------------------------------------------------------------------------------


@guard("request_has_items")
def request_has_items(req, actor, params):
    if not req.items:
        return gettext("В заявке нет ни одного члена Профсоюза.")
    return None


def busy_members(member_ids, request_id: int | None = None) -> set[int]:
    """Of these members, the ones already in another open (draft or submitted) request: one query for all."""
    from portal.cards.models import CardRequest, CardRequestItem, RequestState

    ids = list(member_ids)
    if not ids:
        return set()
    return set(db.session.scalars(
        select(CardRequestItem.member_id).join(CardRequest)
        .where(CardRequestItem.member_id.in_(ids), CardRequest.id != (request_id or 0),
               CardRequest.state.in_([RequestState.DRAFT, RequestState.SUBMITTED]))))


def member_card_problem(member: Member, request_id: int | None = None, busy: set[int] | None = None) -> str | None:
    """Why a member can't be put in a card request (None: they can); `busy` is `busy_members` asked once for many."""
    if member.status != MemberStatus.ACTIVE:
        return gettext("%(name)s: не состоит на учёте.", name=member.short_name)
    if member.consent_status not in (ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED):
        return gettext("%(name)s: нет подписанного согласия на обработку персональных данных.", name=member.short_name)
    if member.card_status not in (CardStatus.NOT_ORDERED, CardStatus.REISSUED):
        return gettext("%(name)s: билет уже %(state)s.", name=member.short_name, state=member.card_status.label)
    if member.id in (busy if busy is not None else busy_members([member.id], request_id)):
        return gendered(member.gender, gettext("%(name)s: уже включён в другую заявку.", name=member.short_name),
                        gettext("%(name)s: уже включена в другую заявку.", name=member.short_name))
    return None


def request_members(req) -> list[Member]:
    """The members of a request in its order, in one query (the items then find them in the session)."""
    from portal.cards.models import CardRequestItem

    return list(db.session.scalars(
        select(Member).join(CardRequestItem, CardRequestItem.member_id == Member.id)
        .where(CardRequestItem.request_id == req.id).order_by(CardRequestItem.id)))


@guard("request_members_eligible")
def request_members_eligible(req, actor, params):
    members = request_members(req)
    busy = busy_members([m.id for m in members], req.id)
    found = [p for m in members if (p := member_card_problem(m, req.id, busy))]
    if found:
        return gettext("Нельзя отправить заявку: %(reasons)s",
                       reasons="; ".join(found[:5]) + ("…" if len(found) > 5 else ""))
    return None


@guard("tracking_is_given", checks_input=True)
def tracking_is_given(req, actor, params):
    tracking = (params.get("tracking_number") or "").strip()
    if not tracking:
        return InputProblem("tracking_number", gettext("Укажите номер почтового отправления."))
    if len(tracking) > 40:
        return InputProblem("tracking_number", gettext("Номер отправления слишком длинный."))
    shipped_on = _date_param(params, "on_date")
    if shipped_on is None:
        return InputProblem("on_date", gettext("Укажите дату отправки."))
    if shipped_on > today():
        return InputProblem("on_date", gettext("Дата отправки не может быть в будущем."))
    if req.processed_on and shipped_on < req.processed_on:
        return InputProblem("on_date", gettext("Дата отправки раньше даты обработки заявки."))
    return None


@guard("received_on_is_valid", checks_input=True)
def received_on_is_valid(req, actor, params):
    on = _date_param(params, "on_date")
    if on is None:
        return InputProblem("on_date", gettext("Укажите дату получения карт."))
    if on > today():
        return InputProblem("on_date", gettext("Дата получения не может быть в будущем."))
    if req.shipped_on and on < req.shipped_on:
        return InputProblem("on_date", gettext("Дата получения раньше даты отправки."))
    return None


@guard("all_cards_issued")
def all_cards_issued(req, actor, params):
    from portal.cards.models import CardState

    if any(item.card is None or item.card.state != CardState.ISSUED for item in req.items):
        return gettext("Выданы ещё не все карты заявки.")
    return None


@effect("request_submitted")
def request_submitted(req, actor, params):
    from portal.clock import now

    req.submitted_at = now()
    for item in req.items:
        item.member.card_status = CardStatus.ORDERED


@effect("request_cancelled")
def request_cancelled(req, actor, params):
    if params.get("from") == "submitted":
        for item in req.items:
            if item.member.card_status == CardStatus.ORDERED:
                item.member.card_status = CardStatus.NOT_ORDERED


def notify_chair(req, subject: str, body: str, kind: str) -> None:
    """Tell the primary's chair by email (through the outbox, in this transaction); no address, no mail."""
    from portal.mail.outbox import queue_mail

    address = (req.org.chair_email or "").strip()
    if not address:
        return
    try:
        queue_mail(address, subject, body, kind=kind)
    except ValueError:  # a malformed address in the passport must not stop the workflow
        pass


@effect("request_processed")
def request_processed(req, actor, params):
    from portal.cards.operations import allocate_cards

    allocate_cards(req, batch_id=params.get("batch_id"), on=params.get("on_date") or today())
    notify_chair(req, f"Заявка № {req.id} на выпуск ЭПБ обработана",
                 f"Заявка № {req.id} ({req.org.name}) обработана: карт — {len(req.items)}. "
                 "Карты будут отправлены в региональную организацию в течение 14 календарных дней.",
                 "card_request_processed")


@effect("request_shipped")
def request_shipped(req, actor, params):
    from portal.cards.models import CardState
    from workflows import CARD, fire

    req.shipped_on = params["on_date"]
    req.tracking_number = params["tracking_number"].strip()
    for item in req.items:
        if item.card is not None and item.card.state in (CardState.ORDERED, CardState.PRODUCED):
            fire(CARD, item.card, "ship", None)
    notify_chair(req, f"Карты по заявке № {req.id} отправлены",
                 f"Карты по заявке № {req.id} ({req.org.name}) отправлены в региональную организацию "
                 f"{req.shipped_on:%d.%m.%Y}, почтовое отправление {req.tracking_number}. Когда региональная организация "
                 "отметит их получение, получите их и отметьте каждую выданную карту статусом «ВЫДАН».",
                 "card_request_shipped")


@effect("request_received")
def request_received(req, actor, params):
    """The shipment arrived: the request's shipped cards are received too (the chairs may hand them over)."""
    from portal.cards.models import CardState
    from workflows import CARD, fire

    req.received_on = params["on_date"]
    for item in req.items:
        if item.card is not None and item.card.state == CardState.SHIPPED:
            fire(CARD, item.card, "receive", None)
    notify_chair(req, f"Карты по заявке № {req.id} получены",
                 f"Карты по заявке № {req.id} ({req.org.name}) получены региональной организацией "
                 f"{req.received_on:%d.%m.%Y}. Получите их и отметьте каждую выданную карту статусом «ВЫДАН».",
                 "card_request_received")


@effect("request_issued")
def request_issued(req, actor, params):
    req.issued_on = today()


# ---- cards ------------------------------------------------------------------------------------------------------


_CARD_TO_MEMBER = {
    "ordered": CardStatus.ORDERED, "produced": CardStatus.PRODUCED, "shipped": CardStatus.SHIPPED,
    "received": CardStatus.RECEIVED, "issued": CardStatus.ISSUED, "lost": CardStatus.LOST, "blocked": CardStatus.BLOCKED,
    "reissued": CardStatus.REISSUED,
}


@effect("card_state_to_member")
def card_state_to_member(card, actor, params):
    """The member's card status in the registry follows their current card."""
    card.member.card_status = _CARD_TO_MEMBER[card.state.value]
    card.member.card_number = card.number


@effect("card_issued")
def card_issued(card, actor, params):
    from portal.cards.models import CardRequest
    from workflows import CARD_REQUEST, fire, may

    card.issued_on = params.get("on_date") or today()
    req = db.session.get(CardRequest, card.request_id) if card.request_id else None
    if req is not None and may(CARD_REQUEST, req, "issue", None):
        fire(CARD_REQUEST, req, "issue", None)


@effect("card_reissued")
def card_reissued(card, actor, params):
    card.member.card_status = CardStatus.REISSUED
