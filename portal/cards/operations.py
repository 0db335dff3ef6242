"""Card numbers, allocation at processing, and the production manifest."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text, update

from portal.cards.models import Card, CardRequest, CardState, Counter
from portal.extensions import db
from portal.registry.models import CardStatus

CARD_PREFIX = "2202"  # the programme's issuer prefix; 11 digits of sequence and a Luhn check digit follow


def luhn_digit(body: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_digit(number[:-1]) == number[-1]


def card_number(seq: int) -> str:
    body = f"{CARD_PREFIX}{seq:011d}"
    return body + luhn_digit(body)


def next_sequence(count: int, name: str = "card") -> list[int]:
    """Reserve `count` numbers from a counter with one atomic UPDATE … RETURNING (row-locked until commit)."""
    if count <= 0:
        return []
    if db.session.get(Counter, name) is None:
        dialect = db.session.get_bind().dialect.name
        insert_sql = ("INSERT INTO counters (name, value) VALUES (:n, 0) ON CONFLICT (name) DO NOTHING"
                      if dialect in ("postgresql", "sqlite") else None)
        db.session.execute(text(insert_sql), {"n": name})
    end = db.session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + count)
        .returning(Counter.value).execution_options(synchronize_session=False)).scalar_one()
    return list(range(end - count + 1, end + 1))


def allocate_cards(req: CardRequest, batch_id: int | None, on: date) -> list[Card]:
    """Give every member of a processed request a card with a fresh number."""
    members = [item for item in req.items if item.card_id is None]
    seqs = next_sequence(len(members))
    cards = []
    for item, seq in zip(members, seqs, strict=True):
        card = Card(number=card_number(seq), member_id=item.member_id, request_id=req.id, state=CardState.ORDERED)
        db.session.add(card)
        item.card = card
        item.member.card_status = CardStatus.ORDERED
        item.member.card_number = card.number
        cards.append(card)
    req.batch_id = batch_id
    req.processed_on = on
    db.session.flush()
    return cards


def live_card(member_id: int) -> Card | None:
    return db.session.scalar(select(Card).where(Card.member_id == member_id, Card.state.not_in(
        [CardState.LOST, CardState.BLOCKED, CardState.REISSUED])).order_by(Card.id.desc()))
