"""Helpers for the member's side: a card holder who may register, and registering one through the pages."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.cabinet.models import MemberAccount
from portal.cards.operations import card_number
from portal.extensions import db
from portal.mail.models import OutboxMessage
from portal.registry.models import CardStatus, ConsentStatus, Member
from tests.conftest import create_member

MEMBER_PASSWORD = "member-pass-2026"
_seq = {"n": 500_000}


def card_holder(org, **overrides) -> Member:
    """An active member with an issued card and a signed consent: the one registration accepts."""
    consent = overrides.pop("consent_status", ConsentStatus.SIGNED)
    card = overrides.pop("card_status", CardStatus.ISSUED)
    m = create_member(org, **overrides)
    _seq["n"] += 1
    m.card_number = card_number(_seq["n"])
    m.card_status = card
    m.consent_status = consent
    db.session.commit()
    return m


def identity(m: Member, **changes) -> dict:
    data = {"last_name": m.last_name, "first_name": m.first_name, "patronymic": m.patronymic,
            "card_number": m.card_number}
    data.update(changes)
    return data


def last_mail(kind: str | None = None, to: str | None = None) -> OutboxMessage:
    q = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if kind:
        q = q.where(OutboxMessage.kind == kind)
    if to:
        q = q.where(OutboxMessage.to_addr == to)
    db.session.expire_all()
    return db.session.scalars(q.limit(1)).first()


def link_in(body: str) -> str:
    """The path of the first portal link in a message body."""
    m = re.search(r"https?://[^/\s]+(/\S+)", body)
    assert m, body
    return m.group(1)


def register(client, m: Member, *, email="member@example.org", phone="+7 900 123-45-67",
             password=MEMBER_PASSWORD, confirm=True) -> MemberAccount:
    """Register through both steps (and confirm the email through the outbox link)."""
    r = client.post("/cabinet/register", data=identity(m))
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    r = client.post("/cabinet/register/account", data={"email": email, "phone": phone, "password": password,
                                                        "repeat": password, "rules": "y"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    if confirm:
        r = client.get(link_in(last_mail("member_confirm", email).body))
        assert r.status_code == 302
    db.session.expire_all()
    return db.session.scalar(select(MemberAccount).where(MemberAccount.member_id == m.id))


def member_login(client, m: Member, password=MEMBER_PASSWORD):
    r = client.post("/cabinet/login", data={"card_number": m.card_number, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    return r
