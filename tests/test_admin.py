"""The back office (Flask-Admin): every view is scoped, and nothing of another region can be read, changed or
exported through it — list, edit, details, delete, actions, export and type-ahead alike."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from portal import audit
from portal.admin.base import ScopedAjaxLoader, ScopedIndexView, ScopedModelView, neutralise_cell
from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import CorrectionRequest, Member, Organisation, OrgLevel
from tests.conftest import PASSWORD, create_org, create_user, login
from tests.security_helpers import (  # noqa: F401  (fresh_login_per_request is an autouse fixture)
    NONEXISTENT_IDS,
    csrf_token,
    fresh,
    fresh_login_per_request,
    login_with_csrf,
    normalised,
)


def _admin(app):
    return app.extensions["admin"][0]


# ---- every view is scoped -----------------------------------------------------------------------------------------


def test_every_registered_view_inherits_the_scoped_base(app):
    admin = _admin(app)
    assert admin.url == "/admin"
    assert isinstance(admin.index_view, ScopedIndexView)
    endpoints = set()
    for view in admin._views:
        assert isinstance(view, ScopedModelView | ScopedIndexView), f"{view!r} is not scoped"
        endpoints.add(view.endpoint)
        for loader in getattr(view, "_form_ajax_refs", {}).values():
            assert isinstance(loader, ScopedAjaxLoader), f"{view.endpoint}: unscoped type-ahead"
    assert len(admin._views) >= 6
    # No route under /admin escapes the views above (only Flask-Admin's own static files).
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            blueprint = rule.endpoint.rsplit(".", 1)[0]
            assert blueprint in endpoints or rule.endpoint == "admin.static", rule.rule


def test_a_view_outside_the_base_would_be_caught(app):
    """The check above really fails for a plain Flask-Admin view (the test can fail)."""
    from flask_admin.contrib.sqla import ModelView

    plain = ModelView(Organisation, db, endpoint="plain_orgs_check")
    assert not isinstance(plain, ScopedModelView | ScopedIndexView)


def test_back_office_is_mounted_at_admin_in_russian(client, world):
    login(client, world.users["central_admin"])
    page = client.get("/admin/").get_data(as_text=True)
    assert "Административный раздел" in page and "Организации" in page
    listing = client.get("/admin/organisations/")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "Создать" in text and "Список" in text  # Flask-Admin's own words, in Russian
    assert "Create" not in text


@pytest.mark.parametrize("role", ["territorial_chair", "primary_chair"])
def test_roles_without_back_office_get_404(client, world, role):
    login(client, world.users[role])
    missing = normalised(client.get("/no-such-page"))
    for url in ("/admin/", "/admin/organisations/", "/admin/users/", "/admin/members/", "/admin/audit/",
                f"/admin/members/details/?id={world.members['a'].id}", "/admin/members/export/csv/"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert normalised(r) == missing, url


def test_anonymous_is_sent_to_login(client, world):
    for url in ("/admin/", "/admin/members/", f"/admin/members/details/?id={world.members['a'].id}"):
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), url


def test_regional_staff_has_back_office_but_not_the_audit_log(client, world):
    login(client, world.users["regional_staff"])
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/members/").status_code == 200
    assert client.get("/admin/audit/").status_code == 404
    assert "Журнал аудита" not in client.get("/admin/").get_data(as_text=True)


# ---- rows of another region ---------------------------------------------------------------------------------------


@dataclass
class Rows:
    """For one admin view: a row of region A and one of region B, each with a text that identifies it."""

    endpoint: str
    own_id: int
    own_text: str
    foreign_id: int
    foreign_text: str
    model: type
    action: str = "delete"
    lookup: str | None = None


@pytest.fixture
def rows(world) -> dict[str, Rows]:
    chair_a = world.users["primary_chair"]
    chair_b = create_user(world.school_b, Role.PRIMARY_CHAIR, "omskschool")
    chair_b.full_name = "Омскова Ольга Председательевна"
    a_user = create_user(world.school_a2, Role.PRIMARY_CHAIR, "lipschool2")
    a_user.full_name = "Липецкова Лидия Председательевна"
    req_a = ops.request_correction(chair_a, world.school_a, "Липецк: исправить краткое наименование")
    req_b = ops.request_correction(chair_b, world.school_b, "Омск: исправить ИНН школы")
    entry_a = audit.record("test_note", object_type="test", org_id=world.school_a.id, actor=chair_a,
                           marker="lipetsk-audit-marker")
    entry_b = audit.record("test_note", object_type="test", org_id=world.school_b.id, actor=chair_b,
                           marker="omsk-audit-marker")
    db.session.commit()
    return {
        "organisations": Rows("organisations", world.school_a.id, world.school_a.name, world.school_b.id,
                              world.school_b.name, Organisation, lookup="parent"),
        "users": Rows("users", a_user.id, a_user.full_name, chair_b.id, chair_b.full_name, User,
                      action="end_sessions", lookup="org"),
        "members": Rows("members", world.members["a"].id, world.members["a"].last_name, world.members["b"].id,
                        world.members["b"].last_name, Member),
        "corrections": Rows("corrections", req_a.id, req_a.text, req_b.id, req_b.text, CorrectionRequest),
        "audit": Rows("audit", entry_a.id, "lipetsk-audit-marker", entry_b.id, "omsk-audit-marker", AuditEntry),
    }


def _snapshot(model, row_id):
    """Every column of a row, read straight from the database."""
    db.session.expire_all()
    row = db.session.get(model, row_id)
    assert row is not None
    return {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}


VIEWS = ["organisations", "users", "members", "corrections", "audit"]


@pytest.mark.parametrize("view", VIEWS)
def test_regional_chair_sees_own_region_only(client, world, rows, view):
    r = rows[view]
    login(client, world.users["regional_chair"])
    listing = client.get(f"/admin/{view}/").get_data(as_text=True)
    assert r.own_text in listing
    assert r.foreign_text not in listing
    # Searching for the foreign row finds nothing either (and says nothing about it).
    found = client.get(f"/admin/{view}/", query_string={"search": r.foreign_text[:5]}).get_data(as_text=True)
    assert r.foreign_text not in found


@pytest.mark.parametrize("view", VIEWS)
def test_foreign_ids_answer_like_missing_ones(client, world, rows, view):
    r = rows[view]
    login(client, world.users["regional_chair"])
    for page in ("edit", "details"):
        foreign = client.get(f"/admin/{view}/{page}/?id={r.foreign_id}")
        assert foreign.status_code == 404, page
        assert r.foreign_text not in foreign.get_data(as_text=True)
        for missing_id in (*NONEXISTENT_IDS, "abc", "-1"):
            missing = client.get(f"/admin/{view}/{page}/?id={missing_id}")
            assert missing.status_code == 404, (page, missing_id)
            assert normalised(missing) == normalised(foreign), (page, missing_id)
    own = client.get(f"/admin/{view}/details/?id={r.own_id}")
    assert own.status_code == 200 and r.own_text in own.get_data(as_text=True)
    denied = db.session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                         AuditEntry.object_id == r.foreign_id)).all()
    assert denied and all(e.actor_login == "regchair" for e in denied)


@pytest.mark.parametrize("view", VIEWS)
def test_foreign_rows_cannot_be_changed_or_deleted(client, world, rows, view):
    r = rows[view]
    before = _snapshot(r.model, r.foreign_id)
    login(client, world.users["regional_chair"])
    edit = client.post(f"/admin/{view}/edit/?id={r.foreign_id}",
                       data={"name": "Взлом", "full_name": "Взлом", "last_name": "Взломова", "text": "Взлом",
                             "is_enabled": "", "role": "central_admin"})
    assert edit.status_code == 404
    delete = client.post(f"/admin/{view}/delete/", data={"id": str(r.foreign_id), "url": f"/admin/{view}/"})
    assert delete.status_code == 404
    action = client.post(f"/admin/{view}/action/", data={"action": r.action, "rowid": [str(r.foreign_id)],
                                                          "url": f"/admin/{view}/"})
    assert action.status_code == 302
    assert _snapshot(r.model, r.foreign_id) == before


def test_an_action_on_mixed_ids_touches_only_own_rows(client, world, rows):
    r = rows["users"]
    own_before = fresh(db.session.get(User, r.own_id)).session_version
    foreign_before = _snapshot(User, r.foreign_id)
    login(client, world.users["regional_chair"])
    client.post("/admin/users/action/", data={"action": "end_sessions", "rowid": [str(r.own_id), str(r.foreign_id)],
                                              "url": "/admin/users/"})
    assert db.session.get(User, r.own_id).session_version == own_before + 1
    assert _snapshot(User, r.foreign_id) == foreign_before
    denial = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "denied",
                                                         AuditEntry.actor_login == "regchair")).all()
    assert any(str(r.foreign_id) in e.details for e in denial)


@pytest.mark.parametrize("view", VIEWS)
def test_export_holds_own_rows_only(client, world, rows, view):
    r = rows[view]
    login(client, world.users["regional_chair"])
    resp = client.get(f"/admin/{view}/export/csv/")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.get_data(as_text=True)
    assert r.own_text in text
    assert r.foreign_text not in text


@pytest.mark.parametrize("view", ["organisations", "users"])
def test_type_ahead_offers_own_organisations_only(client, world, rows, view):
    r = rows[view]
    login(client, world.users["regional_chair"])
    found = client.get(f"/admin/{view}/ajax/lookup/", query_string={"name": r.lookup, "query": "ППО"})
    assert found.status_code == 200
    names = [label for _, label in json.loads(found.data)]
    assert names and world.school_a.short_name in names
    assert world.school_b.short_name not in names
    omsk = client.get(f"/admin/{view}/ajax/lookup/", query_string={"name": r.lookup, "query": "Омск"})
    assert json.loads(omsk.data) == []
    assert client.get(f"/admin/{view}/ajax/lookup/", query_string={"name": "nope", "query": "a"}).status_code == 404


@pytest.mark.parametrize("view", VIEWS)
def test_central_admin_sees_every_region(client, world, rows, view):
    r = rows[view]
    login(client, world.users["central_admin"])
    listing = client.get(f"/admin/{view}/").get_data(as_text=True)
    assert r.own_text in listing and r.foreign_text in listing
    assert client.get(f"/admin/{view}/details/?id={r.foreign_id}").status_code == 200


def test_other_region_sees_its_own_and_not_region_a(client, world, rows):
    login(client, world.users["other_region_chair"])
    listing = client.get("/admin/members/").get_data(as_text=True)
    assert world.members["b"].last_name in listing and world.members["a"].last_name not in listing
    assert client.get(f"/admin/members/details/?id={world.members['a'].id}").status_code == 404


def test_counts_on_the_start_page_are_scoped(client, world):
    login(client, world.users["regional_chair"])
    page = client.get("/admin/").get_data(as_text=True)
    in_region = db.session.scalar(select(func.count()).select_from(Member).join(Organisation).where(
        Organisation.path.like(world.region_a.path + "%")))
    assert f"Записей: {in_region}" in page
    assert in_region < db.session.scalar(select(func.count()).select_from(Member))


# ---- organisations: create, move, delete ---------------------------------------------------------------------


def test_create_organisation_under_own_subtree_computes_the_path(client, world):
    login(client, world.users["regional_chair"])
    r = client.post("/admin/organisations/new/", data={"parent": str(world.terr_a.id), "level": "primary",
                                                       "name": "ППО МБДОУ детский сад № 8 г. Липецка",
                                                       "short_name": "ДС № 8"})
    assert r.status_code == 302
    org = db.session.scalar(select(Organisation).where(Organisation.short_name == "ДС № 8"))
    assert org.parent_id == world.terr_a.id and org.path == f"{world.terr_a.path}{org.id}/"
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "org_create",
                                                      AuditEntry.object_id == org.id)).actor_login == "regchair"


@pytest.mark.parametrize("parent,level", [("terr_b", "primary"), ("central", "regional"), ("school_a", "primary")])
def test_create_organisation_elsewhere_is_refused(client, world, parent, level):
    login(client, world.users["regional_chair"])
    count = db.session.scalar(select(func.count()).select_from(Organisation))
    client.post("/admin/organisations/new/", data={"parent": str(getattr(world, parent).id), "level": level,
                                                   "name": "Чужая организация", "short_name": "Чужая"})
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == count


def test_regional_staff_may_not_create_organisations(client, world):
    login(client, world.users["regional_staff"])
    count = db.session.scalar(select(func.count()).select_from(Organisation))
    client.post("/admin/organisations/new/", data={"parent": str(world.terr_a.id), "level": "primary",
                                                   "name": "ППО без права", "short_name": "Без права"})
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == count


def _org_form(org: Organisation, **changes) -> dict:
    data = {"name": org.name, "short_name": org.short_name, "inn": org.inn, "kind": org.kind.value if org.kind else "",
            "address": org.address, "chair_name": org.chair_name, "chair_gender": "", "chair_phone": org.chair_phone,
            "chair_email": org.chair_email, "staff_count": org.staff_count or "", "student_count": "",
            "committee_size": "", "audit_commission_size": "", "parent": str(org.parent_id)}
    data.update(changes)
    return data


def test_move_within_region_uses_move_organisation(client, world):
    login(client, world.users["regional_chair"])
    school, member = world.school_a, world.members["a"]
    r = client.post(f"/admin/organisations/edit/?id={school.id}", data=_org_form(school, parent=str(world.terr_a2.id)))
    assert r.status_code == 302
    moved = fresh(school)
    assert moved.parent_id == world.terr_a2.id and moved.path == f"{world.terr_a2.path}{school.id}/"
    assert fresh(member).org_id == school.id
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "org_move")) is not None


def test_move_out_of_region_is_refused(client, world):
    login(client, world.users["regional_chair"])
    school = world.school_a
    before = _snapshot(Organisation, school.id)
    client.post(f"/admin/organisations/edit/?id={school.id}", data=_org_form(school, parent=str(world.terr_b.id)))
    assert _snapshot(Organisation, school.id) == before


def test_own_region_passport_is_editable_but_not_movable(client, world):
    login(client, world.users["regional_chair"])
    region = world.region_a
    page = client.get(f"/admin/organisations/edit/?id={region.id}").get_data(as_text=True)
    assert 'name="parent"' not in page
    r = client.post(f"/admin/organisations/edit/?id={region.id}",
                    data=_org_form(region, inn="4826000000", parent=str(world.region_b.id)))
    assert r.status_code == 302
    after = fresh(region)
    assert after.inn == "4826000000" and after.parent_id == world.central.id and after.path == region.path


def test_organisation_with_members_or_children_is_not_deleted(client, world):
    login(client, world.users["regional_chair"])
    for org in (world.school_a, world.terr_a):
        client.post("/admin/organisations/delete/", data={"id": str(org.id), "url": "/admin/organisations/"})
        assert fresh(org) is not None
    empty = create_org(world.terr_a, OrgLevel.PRIMARY, "ППО пустая")
    client.post("/admin/organisations/delete/", data={"id": str(empty.id), "url": "/admin/organisations/"})
    db.session.expire_all()
    assert db.session.get(Organisation, empty.id) is None
    # Not even an empty organisation of another region.
    empty_b = create_org(world.terr_b, OrgLevel.PRIMARY, "ППО пустая омская")
    assert client.post("/admin/organisations/delete/",
                       data={"id": str(empty_b.id), "url": "/admin/organisations/"}).status_code == 404
    assert fresh(empty_b) is not None


def test_path_and_level_are_not_settable(client, world):
    login(client, world.users["regional_chair"])
    school = world.school_a
    client.post(f"/admin/organisations/edit/?id={school.id}",
                data=_org_form(school, path="/1/", level="regional", parent_id=str(world.terr_b.id)))
    after = fresh(school)
    assert after.path == school.path and after.level == OrgLevel.PRIMARY and after.parent_id == world.terr_a.id


# ---- accounts -----------------------------------------------------------------------------------------------------


def _new_account(client, org, role, login_name="newchair", password="Временный-пароль-1"):
    return client.post("/admin/users/new/", data={"org": str(org.id), "role": role, "login": login_name,
                                                  "full_name": "Новый Председатель", "email": "",
                                                  "new_password": password})


def test_account_created_with_a_hashed_password_that_must_be_changed(client, world):
    login(client, world.users["regional_chair"])
    r = _new_account(client, world.terr_a2, "territorial_chair")
    assert r.status_code == 302
    user = db.session.scalar(select(User).where(User.login == "newchair"))
    assert user.role == Role.TERRITORIAL_CHAIR and user.org_id == world.terr_a2.id
    assert user.password_hash.startswith("$argon2") and "Временный" not in user.password_hash
    assert user.must_change_password and user.created_by_id == world.users["regional_chair"].id
    other = client.application.test_client()
    r = other.post("/login", data={"login": "newchair", "password": "Временный-пароль-1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/password")
    assert other.get(f"/orgs/{world.terr_a2.id}").headers["Location"].endswith("/password")


@pytest.mark.parametrize("org,role", [
    ("school_a", "central_admin"),        # escalation
    ("school_a", "regional_chair"),       # a role of another level
    ("terr_a", "regional_staff"),
    ("region_a", "regional_chair"),       # own level
    ("school_b", "primary_chair"),        # another region
    ("central", "central_admin"),
])
def test_account_roles_and_organisations_outside_the_grant_are_refused(client, world, org, role):
    login(client, world.users["regional_chair"])
    count = db.session.scalar(select(func.count()).select_from(User))
    _new_account(client, getattr(world, org), role)
    assert db.session.scalar(select(func.count()).select_from(User)) == count


def test_account_edit_cannot_escalate_or_touch_secrets(client, world):
    target = world.users["territorial_chair"]
    before = _snapshot(User, target.id)
    login(client, world.users["regional_chair"])
    r = client.post(f"/admin/users/edit/?id={target.id}",
                    data={"full_name": "Изменённое ФИО", "email": "", "role": "central_admin", "is_enabled": "y",
                          "session_version": "1", "password_hash": "x", "org": str(world.school_b.id),
                          "org_id": str(world.school_b.id), "login": "hijacked"})
    after = _snapshot(User, target.id)
    assert after == before, r.get_data(as_text=True)[:300]
    # A permitted change goes through, and only that.
    client.post(f"/admin/users/edit/?id={target.id}",
                data={"full_name": "Изменённое ФИО", "email": "", "role": "territorial_chair", "is_enabled": "y",
                      "session_version": "1", "password_hash": "x", "login": "hijacked"})
    after = _snapshot(User, target.id)
    assert after["full_name"] == "Изменённое ФИО"
    assert {k: v for k, v in after.items() if k != "full_name"} == {k: v for k, v in before.items()
                                                                     if k != "full_name"}


def test_new_password_and_disabling_end_every_session(client, world, app):
    target = world.users["territorial_chair"]
    version = target.session_version
    victim = app.test_client()
    login(victim, target)
    assert victim.get(f"/orgs/{world.terr_a.id}").status_code == 200
    login(client, world.users["regional_chair"])
    form = {"full_name": target.full_name, "email": "", "role": "territorial_chair", "is_enabled": "y",
            "new_password": "совсем-новый-пароль"}
    assert client.post(f"/admin/users/edit/?id={target.id}", data=form).status_code == 302
    after = fresh(target)
    assert after.session_version == version + 1 and after.must_change_password
    assert after.check_password("совсем-новый-пароль") and not after.check_password(PASSWORD)
    assert victim.get(f"/orgs/{world.terr_a.id}").headers["Location"].startswith("/login")
    assert "совсем-новый-пароль" not in json.dumps([e.details for e in db.session.scalars(select(AuditEntry))])

    login(victim, target, "совсем-новый-пароль")
    form.pop("is_enabled")
    form.pop("new_password")
    assert client.post(f"/admin/users/edit/?id={target.id}", data=form).status_code == 302
    disabled = fresh(target)
    assert not disabled.is_enabled and disabled.session_version == version + 2
    assert victim.get("/password").headers["Location"].startswith("/login")


def test_account_details_never_show_secrets(client, world):
    login(client, world.users["central_admin"])
    target = world.users["primary_chair"]
    for url in (f"/admin/users/details/?id={target.id}", "/admin/users/", "/admin/users/export/csv/",
                f"/admin/users/edit/?id={target.id}"):
        text = client.get(url).get_data(as_text=True)
        assert "$argon2" not in text and "session_version" not in text, url


# ---- members ------------------------------------------------------------------------------------------------------


def _member_form(m: Member, **changes) -> dict:
    data = {"last_name": m.last_name, "first_name": m.first_name, "patronymic": m.patronymic,
            "birth_date": m.birth_date.isoformat(), "gender": m.gender.value, "category": m.category.value,
            "department": m.department, "position": m.position, "education": m.education.value,
            "dues_form": m.dues_form.value, "joined_on": m.joined_on.isoformat(), "address": m.address,
            "phone": m.phone, "email": m.email}
    data.update(changes)
    return data


def test_member_edit_goes_through_update_member_and_is_audited(client, world):
    m = world.members["a"]
    login(client, world.users["regional_staff"])
    r = client.post(f"/admin/members/edit/?id={m.id}",
                    data=_member_form(m, phone="+7 900 000-00-00", org_id=str(world.school_b.id),
                                      consent_status="signed", card_status="issued", status="left"))
    assert r.status_code == 302
    after = fresh(m)
    assert after.phone == "+7 900 000-00-00"
    assert (after.org_id, after.consent_status, after.card_status, after.status) == (
        m.org_id, m.consent_status, m.card_status, m.status)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_update"))
    assert entry.actor_login == "regstaff" and entry.object_id == m.id and "phone" in entry.details


def test_member_edit_rules_are_the_registry_rules(client, world):
    m = world.members["a"]
    login(client, world.users["regional_chair"])
    client.post(f"/admin/members/edit/?id={m.id}", data=_member_form(m, joined_on="1900-01-01"))
    assert fresh(m).joined_on == m.joined_on


def test_member_reads_lists_and_exports_are_audited(client, world):
    m = world.members["a"]
    login(client, world.users["regional_chair"])
    client.get(f"/admin/members/details/?id={m.id}")
    client.get("/admin/members/")
    client.get("/admin/members/export/csv/")
    actions = {e.action: e for e in db.session.scalars(select(AuditEntry).where(AuditEntry.actor_login == "regchair"))}
    assert actions["admin_members_read"].object_id == m.id
    assert str(m.id) in actions["admin_members_list"].details
    assert str(m.id) in actions["admin_members_export"].details
    assert str(world.members["b"].id) not in json.loads(actions["admin_members_list"].details)["ids"]


def test_members_cannot_be_created_or_deleted_here(client, world):
    login(client, world.users["central_admin"])
    count = db.session.scalar(select(func.count()).select_from(Member))
    client.post("/admin/members/new/", data=_member_form(world.members["a"], last_name="Новикова"))
    client.post("/admin/members/delete/", data={"id": str(world.members["a"].id)})
    assert db.session.scalar(select(func.count()).select_from(Member)) == count


# ---- the audit log is read-only ---------------------------------------------------------------------------------


def test_audit_log_cannot_be_written_through_the_back_office(client, world, rows):
    r = rows["audit"]
    login(client, world.users["central_admin"])
    count = db.session.scalar(select(func.count()).select_from(AuditEntry))
    before = _snapshot(AuditEntry, r.own_id)
    client.post("/admin/audit/new/", data={"action": "forged", "details": "{}"})
    client.post(f"/admin/audit/edit/?id={r.own_id}", data={"action": "forged", "outcome": "ok"})
    client.post("/admin/audit/delete/", data={"id": str(r.own_id)})
    client.post("/admin/audit/action/", data={"action": "delete", "rowid": [str(r.own_id)]})
    assert _snapshot(AuditEntry, r.own_id) == before
    after = db.session.scalar(select(func.count()).select_from(AuditEntry))
    forged = db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "forged"))
    assert forged == 0 and after >= count
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "/admin/audit/new/" not in page and "/admin/audit/edit/" not in page


# ---- exports neutralise formulas ----------------------------------------------------------------------------------


def test_export_cells_starting_a_formula_are_neutralised(client, world):
    create_org(world.terr_a, OrgLevel.PRIMARY, "=HYPERLINK(\"http://evil.example\",\"x\")", short_name="@SUM(A1)",
               address="+7 cmd", chair_name="-2+3")
    login(client, world.users["regional_chair"])
    text = client.get("/admin/organisations/export/csv/").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    cells = [c for row in rows[1:] for c in row]
    assert "'@SUM(A1)" in cells and "'+7 cmd" in cells and "'-2+3" in cells
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert not any(c[:1] in ("=", "+", "-", "@") for c in cells if c)
    assert neutralise_cell(5) == 5 and neutralise_cell("Иванова") == "Иванова"


# ---- CSRF on the back office's forms ----------------------------------------------------------------------------


def test_back_office_forms_need_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
        region = create_org(central, OrgLevel.REGIONAL, "Тестовая областная организация")
        create_user(central, Role.CENTRAL_ADMIN, "csrfadmin")
        region_id, name, central_id = region.id, region.name, central.id
    client = app.test_client()
    login_with_csrf(client, "csrfadmin", PASSWORD)
    form = {"name": "Подменённое имя", "short_name": "Подмена", "parent": str(central_id)}
    r = client.post(f"/admin/organisations/edit/?id={region_id}", data=form)
    assert r.status_code == 400
    assert "Обновите страницу" in r.get_data(as_text=True)
    r = client.post("/admin/organisations/delete/", data={"id": str(region_id)})
    assert r.status_code == 400
    with app.app_context():
        assert db.session.get(Organisation, region_id).name == name
    page = client.get(f"/admin/organisations/edit/?id={region_id}").get_data(as_text=True)
    form["csrf_token"] = csrf_token(page)
    assert client.post(f"/admin/organisations/edit/?id={region_id}", data=form).status_code == 302
    with app.app_context():
        assert db.session.get(Organisation, region_id).name == "Подменённое имя"
