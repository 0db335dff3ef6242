"""Membership history: transfer (tenure continues), leaving, exclusion, re-admission after a year (tenure restarts)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.clock import full_years
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import EventKind, Member, MemberEvent, MemberStatus
from tests.conftest import create_member, login


def _events(m: Member) -> list[EventKind]:
    return [e.kind for e in db.session.scalars(select(MemberEvent).where(MemberEvent.member_id == m.id)
                                               .order_by(MemberEvent.id))]


def test_primary_chair_transfers_to_a_sibling_school_and_tenure_continues(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    tenure = m.tenure_start
    r = client.post(f"/members/{m.id}/transfer", data={"to_org_id": world.school_a2.id,
                                                       "on_date": date.today().isoformat(), "reason": "перевод"})
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.org_id == world.school_a2.id and m.tenure_start == tenure
    assert _events(m) == [EventKind.JOINED, EventKind.TRANSFERRED]
    # The member now belongs to a school the chair does not see: their card answers 404.
    assert client.get(f"/members/{m.id}").status_code == 404


def test_primary_chair_cannot_transfer_into_another_territory(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    page = client.get(f"/members/{m.id}/transfer").get_data(as_text=True)
    assert world.school_a2.name in page
    assert world.school_a3.name not in page and world.school_b.name not in page
    r = client.post(f"/members/{m.id}/transfer", data={"to_org_id": world.school_b.id,
                                                       "on_date": date.today().isoformat()})
    assert r.status_code == 200
    db.session.refresh(m)
    assert m.org_id == world.school_a.id


def test_regional_chair_transfers_across_territories(client, world):
    login(client, world.users["regional_chair"])
    m = world.members["a"]
    r = client.post(f"/members/{m.id}/transfer", data={"to_org_id": world.school_a3.id,
                                                       "on_date": date.today().isoformat()})
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.org_id == world.school_a3.id
    assert client.get(f"/members/{m.id}").status_code == 200


@pytest.mark.parametrize("action,status", [("leave", MemberStatus.LEFT), ("exclude", MemberStatus.EXCLUDED)])
def test_leaving_and_exclusion_keep_the_card_with_history(client, world, action, status):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = client.post(f"/members/{m.id}/{action}", data={"on_date": date.today().isoformat(),
                                                       "reason": "протокол № 3"})
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.status == status and m.status_since == date.today()
    assert client.get(f"/members/{m.id}").status_code == 200
    # Leaving twice is refused.
    r = client.post(f"/members/{m.id}/{action}", data={"on_date": date.today().isoformat(), "reason": "x"})
    assert "уже не состоит на учёте" in r.get_data(as_text=True)
    assert len(_events(m)) == 2


def test_exclusion_requires_grounds(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = client.post(f"/members/{m.id}/exclude", data={"on_date": date.today().isoformat(), "reason": " "})
    assert "Укажите основание исключения" in r.get_data(as_text=True)
    db.session.refresh(m)
    assert m.status == MemberStatus.ACTIVE


@pytest.mark.parametrize("on_date,message", [
    (date.today() + timedelta(days=1), "не может быть в будущем"),
    (date(2000, 1, 1), "раньше даты вступления"),
])
def test_event_dates_are_checked(client, world, on_date, message):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = client.post(f"/members/{m.id}/leave", data={"on_date": on_date.isoformat()})
    assert message in r.get_data(as_text=True)
    db.session.refresh(m)
    assert m.status == MemberStatus.ACTIVE


def test_left_members_are_hidden_from_the_default_list_but_filterable(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    ops.end_membership(None, m, EventKind.LEFT, date.today())
    db.session.commit()
    assert "Алексеева" not in client.get(f"/orgs/{world.school_a.id}/members").get_data(as_text=True)
    assert "Алексеева" in client.get(f"/orgs/{world.school_a.id}/members?status=left").get_data(as_text=True)
    assert "Алексеева" in client.get(f"/orgs/{world.school_a.id}/members?status=all").get_data(as_text=True)


def _member_left_on(org, left_on: date) -> Member:
    m = create_member(org, joined_on=date(2001, 9, 1))
    ops.end_membership(None, m, EventKind.LEFT, left_on, "заявление")
    db.session.commit()
    return m


def test_readmission_before_a_year_is_refused_with_the_first_allowed_date(client, world):
    login(client, world.users["primary_chair"])
    left_on = date.today() - timedelta(days=200)
    m = _member_left_on(world.school_a, left_on)
    r = client.post(f"/members/{m.id}/readmit", data={"on_date": date.today().isoformat()})
    text = r.get_data(as_text=True)
    earliest = left_on.replace(year=left_on.year + 1)
    assert "не ранее чем через год" in text and earliest.strftime("%d.%m.%Y") in text
    db.session.refresh(m)
    assert m.status == MemberStatus.LEFT


def test_readmission_on_the_anniversary_restarts_tenure(client, world):
    login(client, world.users["primary_chair"])
    today = date.today()
    left_on = today.replace(year=today.year - 1) if not (today.month == 2 and today.day == 29) else date(today.year - 1, 2, 28)
    m = _member_left_on(world.school_a, left_on)
    assert m.tenure_years() > 20
    r = client.post(f"/members/{m.id}/readmit", data={"on_date": today.isoformat(), "reason": "заявление"})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.refresh(m)
    assert m.status == MemberStatus.ACTIVE and m.tenure_start == today and m.tenure_years() == 0
    assert m.joined_on == date(2001, 9, 1)  # the original joining date stays in the card
    assert _events(m) == [EventKind.JOINED, EventKind.LEFT, EventKind.READMITTED]
    assert "0 полных лет" in client.get(f"/members/{m.id}").get_data(as_text=True)


def test_readmission_one_day_before_the_anniversary_is_refused(app, world):
    left_on = date.today() - timedelta(days=400)
    m = _member_left_on(world.school_a, left_on)
    day_before = ops.readmission_allowed_from(m) - timedelta(days=1)
    with pytest.raises(ops.RegistryError):
        ops.readmit_member(None, m, day_before)
    ops.readmit_member(None, m, ops.readmission_allowed_from(m))
    assert m.tenure_start == left_on.replace(year=left_on.year + 1)


def test_readmission_after_exclusion_on_29_february_counts_from_1_march():
    m = Member(status=MemberStatus.EXCLUDED, status_since=date(2024, 2, 29))
    assert ops.readmission_allowed_from(m) == date(2025, 3, 1)


@pytest.mark.parametrize("start,on,years", [
    (date(2000, 5, 10), date(2010, 5, 9), 9),
    (date(2000, 5, 10), date(2010, 5, 10), 10),
    (date(2000, 2, 29), date(2001, 2, 28), 0),
    (date(2000, 2, 29), date(2001, 3, 1), 1),
    (date(2020, 1, 1), date(2019, 1, 1), 0),
])
def test_full_years(start, on, years):
    assert full_years(start, on) == years


def test_correcting_the_joining_date_moves_tenure_only_if_never_readmitted(app, world):
    m = world.members["a"]
    # A joining date changes only by a recorded correction (issue 10): the card edit refuses it.
    with pytest.raises(ops.RegistryError):
        ops.update_member(None, m, {"joined_on": date(2005, 1, 10)})
    ops.correct_joined_on(None, m, date(2005, 1, 10), "Заявление о вступлении из архива профкома")
    assert m.tenure_start == date(2005, 1, 10)
