"""The inputs of an aid amount are trustworthy (issue 10, item 2): the joining date changes only by a recorded
correction, the staff count keeps its history, a petition keeps the inputs it was computed from and shows the
reviewers and the presidium when and by whom they last changed, flagged within a year before filing; every audited
change carries old and new values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from portal.aid.models import AidPetition
from portal.audit import AuditEntry
from portal.extensions import db
from portal.registry.models import MemberCorrection, OrgCountChange
from tests.aid_helpers import aid_fixture, file  # noqa: F401
from tests.conftest import create_member, login
from tests.security_helpers import fresh


def _card(m, **changes) -> dict:
    data = {"last_name": m.last_name, "first_name": m.first_name, "patronymic": m.patronymic,
            "birth_date": m.birth_date.isoformat(), "gender": m.gender.value, "category": m.category.value,
            "department": m.department, "position": m.position, "education": m.education.value,
            "dues_form": m.dues_form.value, "joined_on": m.joined_on.isoformat(), "address": m.address,
            "phone": m.phone, "email": m.email}
    data.update(changes)
    return data


def _audit(action: str) -> list[dict]:
    db.session.expire_all()
    return [json.loads(e.details or "{}") for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_the_card_form_cannot_change_the_joining_date(client, world):
    m = world.members["a"]
    joined = m.joined_on
    login(client, world.users["primary_chair"])
    r = client.post(f"/members/{m.id}/edit", data=_card(m, joined_on="1996-09-01", position="завуч"))
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Дата вступления меняется только исправлением с указанием причины" in page
    assert "завуч" in page  # the refused form comes back filled in
    m = fresh(m)
    assert m.joined_on == joined and m.position != "завуч"


def test_a_card_edit_is_audited_with_old_and_new_values(client, world):
    m = world.members["a"]
    old_position = m.position
    login(client, world.users["primary_chair"])
    assert client.post(f"/members/{m.id}/edit", data=_card(m, position="завуч")).status_code == 302
    assert _audit("member_update")[-1]["changed"] == {"position": [old_position, "завуч"]}


def test_a_joining_date_correction_needs_a_reason_and_is_recorded(client, world):
    m = world.members["a"]
    old = m.joined_on
    chair = world.users["primary_chair"]
    login(client, chair)
    page = client.get(f"/members/{m.id}/joined-on")
    assert page.status_code == 200 and "Исправление даты вступления" in page.get_data(as_text=True)
    r = client.post(f"/members/{m.id}/joined-on", data={"joined_on": "2001-09-01", "reason": ""})
    assert r.status_code == 200 and "Укажите причину исправления" in r.get_data(as_text=True)
    assert 'value="2001-09-01"' in r.get_data(as_text=True)  # filled in again
    assert fresh(m).joined_on == old and db.session.scalar(select(MemberCorrection)) is None
    r = client.post(f"/members/{m.id}/joined-on",
                    data={"joined_on": "2001-09-01", "reason": "Заявление о вступлении от 01.09.2001 в архиве"})
    assert r.status_code == 302
    m = fresh(m)
    assert m.joined_on == date(2001, 9, 1) and m.tenure_start == date(2001, 9, 1)
    c = db.session.scalar(select(MemberCorrection))
    assert (c.member_id, c.field, c.old_value, c.new_value, c.actor_id, c.actor_login) == (
        m.id, "joined_on", old, date(2001, 9, 1), chair.id, chair.login)
    assert "архиве" in c.reason and c.at is not None
    details = _audit("member_correction")[-1]
    assert details["changed"] == {"joined_on": [old.isoformat(), "2001-09-01"]} and "архиве" in details["reason"]
    # The history is shown on the correction page.
    assert "архиве" in client.get(f"/members/{m.id}/joined-on").get_data(as_text=True)


def test_the_staff_count_keeps_its_history(client, world):
    org = world.school_a
    chair = world.users["primary_chair"]
    old = org.staff_count
    login(client, chair)
    r = client.post(f"/orgs/{org.id}/passport", data={
        "name": org.name, "short_name": "", "inn": "", "kind": org.kind.value if org.kind else "school",
        "address": "", "chair_name": "", "chair_gender": "", "chair_phone": "", "chair_email": "",
        "staff_count": "12", "student_count": "", "committee_size": "", "audit_commission_size": ""})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    change = db.session.scalar(select(OrgCountChange).where(OrgCountChange.org_id == org.id)
                               .order_by(OrgCountChange.id.desc()).limit(1))
    assert (change.field, change.old_value, change.new_value, change.actor_login) == ("staff_count", old, 12,
                                                                                      chair.login)
    assert _audit("passport_update")[-1]["changed"]["staff_count"] == [old, 12]


def test_a_petition_keeps_its_inputs_and_flags_recent_changes(client, aid):
    w = aid.world
    chair = aid.users["primary_chair"]
    m = create_member(w.school_a, joined_on=date(2020, 9, 1))
    login(client, chair)
    # The chair moves the joining date back and lowers the staff count before filing.
    assert client.post(f"/members/{m.id}/joined-on", data={
        "joined_on": "1996-09-01", "reason": "Нашлась старая учётная карточка"}).status_code == 302
    org = w.school_a
    from portal.registry import operations as reg_ops

    reg_ops.update_passport(chair, org, {"staff_count": 20})
    db.session.commit()
    p = file(aid, fresh(m))
    p = fresh(p)
    assert p.input_tenure_start == date(1996, 9, 1) and p.input_tenure_changed_from == date(2020, 9, 1)
    assert p.input_tenure_changed_by == chair.login and p.input_staff_count == 20
    assert p.input_staff_changed_by == chair.login and p.input_members_count >= 1
    assert p.tenure_input_flagged and p.staff_input_flagged
    # The presidium sees the inputs with both flags; the filing chair's page has no such block.
    client.post("/logout")
    login(client, aid.users["presidium_member"])
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert 'data-testid="aid-inputs"' in page and 'data-flagged="tenure"' in page and 'data-flagged="staff"' in page
    assert "Исправлена меньше чем за год до подачи ходатайства." in page and "01.09.2020" in page
    client.post("/logout")
    login(client, aid.users["regional_staff"])
    assert 'data-flagged="tenure"' in client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    client.post("/logout")
    login(client, chair)
    assert 'data-testid="aid-inputs"' not in client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)


def test_changes_older_than_a_year_before_filing_are_shown_but_not_flagged(client, aid):
    w = aid.world
    m = create_member(w.school_a)
    p = file(aid, m)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    p = db.session.get(AidPetition, p.id)
    p.input_tenure_changed_at = p.input_staff_changed_at = long_ago
    p.input_tenure_changed_by = p.input_staff_changed_by = "school"
    db.session.commit()
    assert not fresh(p).tenure_input_flagged and not fresh(p).staff_input_flagged
    login(client, aid.users["presidium_member"])
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert 'data-testid="aid-inputs"' in page and "data-flagged" not in page
    assert "Дата вступления исправлена" in page
