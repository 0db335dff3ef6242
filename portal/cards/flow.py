"""The card request and card workflows (workflows/card_request.py, workflows/card.py) wired to the engine: bound
to `CardRequest` and `Card`, their guards and effects."""

from __future__ import annotations

from flask_babel import gettext

from portal import policy
from portal.cards.models import Card, CardRequest, CardState
from portal.cards.operations import allocate_cards, busy_members, member_card_problem, request_members
from portal.clock import today
from portal.extensions import db
from portal.registry.flow import date_param, member_in_scope
from portal.registry.models import CardStatus
from workflows import CARD, CARD_REQUEST, InputProblem, bind, effect, fire, guard, may

bind(CARD_REQUEST, CardRequest, scope=lambda actor, req: policy.org_in_scope(actor, req.org))
bind(CARD, Card, scope=lambda actor, c: member_in_scope(actor, c.member))


@guard("request_has_items")
def request_has_items(req, actor, params):
    if not req.items:
        return gettext("В заявке нет ни одного члена Профсоюза.")
    return None


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
    shipped_on = date_param(params, "on_date")
    if shipped_on is None:
        return InputProblem("on_date", gettext("Укажите дату отправки."))
    if shipped_on > today():
        return InputProblem("on_date", gettext("Дата отправки не может быть в будущем."))
    if req.processed_on and shipped_on < req.processed_on:
        return InputProblem("on_date", gettext("Дата отправки раньше даты обработки заявки."))
    return None


@guard("received_on_is_valid", checks_input=True)
def received_on_is_valid(req, actor, params):
    on = date_param(params, "on_date")
    if on is None:
        return InputProblem("on_date", gettext("Укажите дату получения карт."))
    if on > today():
        return InputProblem("on_date", gettext("Дата получения не может быть в будущем."))
    if req.shipped_on and on < req.shipped_on:
        return InputProblem("on_date", gettext("Дата получения раньше даты отправки."))
    return None


@guard("all_cards_issued")
def all_cards_issued(req, actor, params):
    # Members left out at processing (consent withdrawn…) have no card and do not hold the request back.
    if any(item.card is None or item.card.state != CardState.ISSUED for item in req.items if not item.excluded_reason):
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
    cards = allocate_cards(req, batch_id=params.get("batch_id"), on=params.get("on_date") or today())
    left_out = sum(1 for item in req.items if item.excluded_reason)
    # Counts only: the names of those left out (and why) are on the request page, not in a letter.
    note = (f" Не включены (нет действующего согласия на обработку персональных данных или не состоят на учёте): "
            f"{left_out}; подробности — на странице заявки.") if left_out else ""
    notify_chair(req, f"Заявка № {req.id} на выпуск ЭПБ обработана",
                 f"Заявка № {req.id} ({req.org.name}) обработана: карт — {len(cards)}.{note} "
                 "Карты будут отправлены в региональную организацию в течение 14 календарных дней.",
                 "card_request_processed")


@effect("request_shipped")
def request_shipped(req, actor, params):
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
    card.issued_on = params.get("on_date") or today()
    req = db.session.get(CardRequest, card.request_id) if card.request_id else None
    if req is not None and may(CARD_REQUEST, req, "issue", None):
        fire(CARD_REQUEST, req, "issue", None)


@effect("card_reissued")
def card_reissued(card, actor, params):
    card.member.card_status = CardStatus.REISSUED
