"""The member card over HTTP: mandatory fields, cross-field rules, duplicates, editing, and the audit trail."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEntry
from portal.extensions import db
from portal.registry.models import EventKind, Member, MemberEvent
from tests.conftest import create_member, login

VALID = {
    "last_name": "Семёнова", "first_name": "Ирина", "patronymic": "Петровна", "birth_date": "1965-07-06",
    "gender": "F", "category": "working", "position": "учитель русского языка", "education": "higher",
    "dues_form": "cash", "joined_on": "2000-09-24", "department": "", "address": "", "phone": "", "email": "",
}


def _post_new(client, org, **changes):
    return client.post(f"/orgs/{org.id}/members/new", data={**VALID, **changes})


def _count_members():
    return db.session.scalar(select(func.count()).select_from(Member))


@pytest.mark.parametrize("field,message", [
    ("last_name", "Укажите фамилию."),
    ("first_name", "Укажите имя."),
    ("birth_date", "Укажите дату рождения."),
    ("gender", "Укажите пол."),
    ("category", "Укажите категорию."),
    ("position", "Укажите должность."),
    ("education", "Укажите образование."),
    ("dues_form", "Укажите форму уплаты взносов."),
    ("joined_on", "Укажите дату вступления."),
])
def test_each_mandatory_field_is_required(client, world, field, message):
    login(client, world.users["primary_chair"])
    before = _count_members()
    r = _post_new(client, world.school_a, **{field: ""})
    assert r.status_code == 200
    assert message in r.get_data(as_text=True)
    assert _count_members() == before


@pytest.mark.parametrize("changes,message", [
    ({"birth_date": (date.today() + timedelta(days=3)).isoformat()}, "Дата рождения в будущем."),
    ({"joined_on": "1960-01-01"}, "Вступила раньше, чем родилась."),
    ({"joined_on": (date.today() + timedelta(days=1)).isoformat()}, "Дата вступления в будущем."),
    ({"birth_date": (date.today() - timedelta(days=365 * 10)).isoformat(), "joined_on": date.today().isoformat()},
     "не меньше 14 лет"),
    ({"email": "ivanova@@mail"}, "Неверный e-mail."),
    ({"phone": "12-34"}, "Неверный номер телефона."),
    ({"last_name": "Иванова<script>"}, "только буквы"),
    ({"birth_date": "1990-02-31"}, "Неверное значение даты."),
])
def test_cross_field_rules_refuse_with_a_message(client, world, changes, message):
    login(client, world.users["primary_chair"])
    before = _count_members()
    r = _post_new(client, world.school_a, **changes)
    assert message in r.get_data(as_text=True)
    assert _count_members() == before


def test_a_valid_card_is_saved_with_a_joined_event_and_tenure(client, world):
    login(client, world.users["primary_chair"])
    r = _post_new(client, world.school_a, patronymic="")
    assert r.status_code == 302
    m = db.session.scalar(select(Member).where(Member.last_name == "Семёнова"))
    assert m.org_id == world.school_a.id and m.patronymic == ""
    assert m.last_name_folded == "семенова"
    assert m.tenure_start == date(2000, 9, 24)
    events = db.session.scalars(select(MemberEvent).where(MemberEvent.member_id == m.id)).all()
    assert [e.kind for e in events] == [EventKind.JOINED]
    page = client.get(r.location).get_data(as_text=True)
    assert "Семёнова Ирина" in page and "24.09.2000" in page


def test_duplicate_person_is_refused_whatever_the_case_spaces_or_yo(client, world):
    login(client, world.users["primary_chair"])
    assert _post_new(client, world.school_a).status_code == 302
    r = _post_new(client, world.school_a, last_name="  СЕМЕНОВА ", first_name="ирина", patronymic="петровна")
    assert "уже состоит на учёте" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Member).where(Member.last_name_folded == "семенова")) == 1


def test_same_name_with_another_birth_date_is_another_person(client, world):
    login(client, world.users["primary_chair"])
    assert _post_new(client, world.school_a).status_code == 302
    assert _post_new(client, world.school_a, birth_date="1966-07-06").status_code == 302


def test_members_are_registered_only_in_primaries(client, world):
    login(client, world.users["territorial_chair"])
    r = _post_new(client, world.terr_a)
    assert r.status_code == 302 and "/tree" in r.location
    r = _post_new(client, world.school_a2)
    assert r.status_code == 302 and "/members/" in r.location


def test_edit_changes_the_card_refreshes_search_keys_and_is_audited(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    data = {**VALID, "last_name": "Ёлкина", "first_name": m.first_name, "patronymic": m.patronymic,
            "birth_date": m.birth_date.isoformat(), "joined_on": m.joined_on.isoformat()}
    r = client.post(f"/members/{m.id}/edit", data=data)
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.last_name == "Ёлкина" and m.last_name_folded == "елкина"
    assert "елкина|анна|" in m.person_key
    found = client.get("/search?q=елк").get_data(as_text=True)
    assert "Ёлкина" in found
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_update",
                                                       AuditEntry.object_id == m.id))
    assert entry is not None and "last_name" in entry.details and entry.actor_login == "schoolchair"


def test_edit_to_an_existing_persons_identity_is_refused(client, world):
    login(client, world.users["primary_chair"])
    other = create_member(world.school_a, last_name="Петрова", first_name="Ольга", patronymic="Ивановна",
                          birth_date=date(1990, 1, 2))
    m = world.members["a"]
    data = {**VALID, "last_name": "Петрова", "first_name": "Ольга", "patronymic": "Ивановна",
            "birth_date": "1990-01-02", "joined_on": m.joined_on.isoformat()}
    r = client.post(f"/members/{m.id}/edit", data=data)
    assert r.status_code == 200 and "уже состоит на учёте" in r.get_data(as_text=True)
    db.session.refresh(m)
    assert m.last_name != "Петрова" and other.id != m.id


def test_reading_a_card_is_audited(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    assert client.get(f"/members/{m.id}").status_code == 200
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_read",
                                                       AuditEntry.object_id == m.id))
    assert entry is not None and entry.org_id == world.school_a.id and entry.address


def test_primary_chair_cannot_edit_a_member_of_a_sibling_school(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a2"]
    r = client.post(f"/members/{m.id}/edit", data={**VALID})
    assert r.status_code == 404
    db.session.refresh(m)
    assert m.last_name == "Борисова"


def test_anonymous_users_are_sent_to_login(client, world):
    r = client.get(f"/members/{world.members['a'].id}")
    assert r.status_code == 302 and "/login" in r.location
