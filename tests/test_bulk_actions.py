"""Bulk actions of a chair's day (issue 9 item 10, seed 002 steps 7 and 10): «согласия подписаны» for many members
with one date, and «выдан» for many cards of a request; each member through the workflow's own transition, a
per-member report, a refused form back filled in, and ids outside the scope answered as missing ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from portal.cards import operations as card_ops
from portal.cards.models import Card, CardRequest, CardState, RequestState
from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus, MemberStatus
from tests.conftest import create_member, login
from tests.form_helpers import field_error, field_value
from workflows import CARD, CONSENT, history


def _printed(org, n):
    out = []
    for _ in range(n):
        m = create_member(org)
        m.consent_status = ConsentStatus.PRINTED
        out.append(m)
    db.session.commit()
    return out


def test_consents_signed_for_many_members_at_once(client, world):
    login(client, world.users["primary_chair"])
    printed = _printed(world.school_a, 3)
    never_printed = create_member(world.school_a)  # the form was never printed: refused, nobody else stops
    db.session.commit()
    on = date.today() - timedelta(days=2)
    ids = [m.id for m in printed] + [never_printed.id]
    r = client.post(f"/orgs/{world.school_a.id}/consents/sign",
                    data={"member_ids": ids, "on_date": on.isoformat(), "consent152": "y"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-testid="bulk-report"' in page
    assert page.count('data-ok="yes"') == 3 and page.count('data-ok="no"') == 1
    assert "невозможно в состоянии «нет согласия»" in page
    for m in printed:
        db.session.refresh(m)
        assert m.consent_status == ConsentStatus.SIGNED
        assert [(h.action, h.actor_login) for h in history(CONSENT, m)] == [("sign", "schoolchair")]
        assert db.session.scalar(select(ConsentRecord.on_date).where(ConsentRecord.member_id == m.id,
                                                                     ConsentRecord.kind == "signed")) == on
    db.session.refresh(never_printed)
    assert never_printed.consent_status == ConsentStatus.NONE


def test_bulk_signing_without_date_or_tick_comes_back_filled_in(client, world):
    login(client, world.users["primary_chair"])
    printed = _printed(world.school_a, 2)
    r = client.post(f"/orgs/{world.school_a.id}/consents/sign",
                    data={"member_ids": [m.id for m in printed], "on_date": date.today().isoformat()})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "бланки получены" in field_error(page, "consent152")
    assert field_value(page, "on_date") == date.today().isoformat()
    assert all(f'value="{m.id}" checked' in page for m in printed)  # the chosen members are kept
    r = client.post(f"/orgs/{world.school_a.id}/consents/sign", data={"consent152": "y", "on_date": ""})
    assert r.status_code == 422 and "Отметьте членов Профсоюза" in r.get_data(as_text=True)
    for m in printed:
        db.session.refresh(m)
        assert m.consent_status == ConsentStatus.PRINTED


def test_bulk_signing_with_a_foreign_member_is_404_and_records_nothing(client, world):
    login(client, world.users["primary_chair"])
    own = _printed(world.school_a, 1)[0]
    foreign = _printed(world.school_a2, 1)[0]
    r = client.post(f"/orgs/{world.school_a.id}/consents/sign",
                    data={"member_ids": [own.id, foreign.id], "on_date": date.today().isoformat(), "consent152": "y"})
    assert r.status_code == 404
    db.session.refresh(own)
    assert own.consent_status == ConsentStatus.PRINTED


def _shipped_request(client, world, regional, n=3):
    members = []
    for _ in range(n):
        m = create_member(world.school_a)
        m.consent_status = ConsentStatus.SIGNED
        members.append(m)
    db.session.commit()
    client.post(f"/orgs/{world.school_a.id}/card-requests/add", data={"member_ids": [m.id for m in members]})
    req = db.session.scalar(select(CardRequest).order_by(CardRequest.id.desc()))
    assert client.post(f"/card-requests/{req.id}/submit").status_code == 302
    db.session.expire_all()
    card_ops.process_due_requests(datetime.now(UTC) + timedelta(seconds=1), date.today())
    assert regional.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA1", "on_date":
                                                                date.today().isoformat()}).status_code == 302
    db.session.expire_all()
    return db.session.get(CardRequest, req.id), members


def test_cards_handed_over_many_at_once_only_after_the_region_received_them(client, world, make_app):
    regional = make_app().test_client()
    login(regional, world.users["regional_staff"])
    login(client, world.users["primary_chair"])
    req, members = _shipped_request(client, world, regional)
    cards = [i.card for i in req.items]
    # In the post: the page offers no «выдан» and says why; a bulk post is refused card by card.
    page = client.get(f"/card-requests/{req.id}").get_data(as_text=True)
    assert 'data-testid="hand-over-form"' not in page
    r = client.post(f"/card-requests/{req.id}/hand-over",
                    data={"card_ids": [c.id for c in cards], "on_date": date.today().isoformat()})
    assert r.status_code == 200 and r.get_data(as_text=True).count('data-ok="no"') == 3
    assert regional.post(f"/card-requests/{req.id}/receive",
                         data={"on_date": date.today().isoformat()}).status_code == 302
    # One member left meanwhile: their card is refused with the reason, the others are handed over.
    members[2].status = MemberStatus.LEFT
    db.session.commit()
    page = client.get(f"/card-requests/{req.id}").get_data(as_text=True)
    assert 'data-testid="hand-over-form"' in page and all(f'data-testid="tick-card-{c.id}"' in page for c in cards[:2])
    r = client.post(f"/card-requests/{req.id}/hand-over", data={"card_ids": [c.id for c in cards], "on_date": ""})
    assert r.status_code == 422 and "ДД.ММ.ГГГГ" in field_error(r.get_data(as_text=True), "on_date")
    r = client.post(f"/card-requests/{req.id}/hand-over",
                    data={"card_ids": [c.id for c in cards[:2]], "on_date": date.today().isoformat()})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and page.count('data-ok="yes"') == 2
    db.session.expire_all()
    for c in cards[:2]:
        card = db.session.get(Card, c.id)
        assert card.state == CardState.ISSUED and card.issued_on == date.today()
        assert card.member.card_status == CardStatus.ISSUED
        assert [h.action for h in history(CARD, card)][-1] == "hand_over"
    assert db.session.get(Card, cards[2].id).state == CardState.RECEIVED
    assert db.session.get(CardRequest, req.id).state == RequestState.RECEIVED  # not every card is issued yet


def test_bulk_hand_over_of_a_card_outside_the_request_is_404(client, world, make_app):
    regional = make_app().test_client()
    login(regional, world.users["regional_staff"])
    login(client, world.users["primary_chair"])
    req, _ = _shipped_request(client, world, regional, n=1)
    other, _ = _shipped_request(client, world, regional, n=1)
    r = client.post(f"/card-requests/{req.id}/hand-over",
                    data={"card_ids": [other.items[0].card_id], "on_date": date.today().isoformat()})
    assert r.status_code == 404
