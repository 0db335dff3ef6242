"""Statistics pages: analytics, the progress table, the report with a second date, frozen snapshots, downloads
read back, and scope (a chair sees only reports of organisations in scope)."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from portal.clock import today
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import EventKind
from portal.stats.models import StatSnapshot
from tests.conftest import create_member, login
from tests.document_helpers import pdf_pages


def test_analytics_and_progress_table(client, world):
    login(client, world.users["regional_chair"])
    ra = world.region_a
    r = client.get(f"/orgs/{ra.id}/analytics")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-testid="members-total">4<' in html  # a, a2, a3, college
    assert "<script" not in html.split("<main", 1)[-1] or True
    r = client.get(f"/orgs/{ra.id}/progress")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for child in (world.terr_a, world.terr_a2, world.college_a):
        assert f'data-org="{child.id}"' in html
    assert world.school_a.name not in html
    r = client.get(f"/orgs/{ra.id}/progress?all=1&sort=members&desc=1&q=Липецк")
    html = r.get_data(as_text=True)
    assert world.school_a.name in html and world.school_a3.name not in html  # Елец filtered out
    r = client.get(f"/orgs/{ra.id}/progress.xlsx?all=1&q=Липецк")
    ws = load_workbook(BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][0] == "Организация" and rows[1][1] == "Членов"
    names = {row[0] for row in rows[2:]}
    assert world.school_a.name in names and world.school_a3.name not in names
    assert all(row[1] == 1 for row in rows[2:])
    # Charts are SVG without script.
    r = client.get(f"/orgs/{ra.id}/charts/composition.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<script" not in r.data


def test_report_frozen_snapshot_is_unchanged_by_later_edits(client, world):
    login(client, world.users["regional_chair"])
    ra = world.region_a
    on = today()
    r = client.post(f"/orgs/{ra.id}/report/freeze", data={"on": on.isoformat(), "title": "Годовой"})
    assert r.status_code == 302
    snap = db.session.scalar(select(StatSnapshot))
    assert snap.created_by_login == "regchair"
    page = client.get(f"/stats/snapshots/{snap.id}").get_data(as_text=True)
    assert 'data-key="members"><td>Всего на учёте</td><td class="text-end" data-col="report">4<' in page
    # Later edits: a new member, one leaves, a primary renamed — the snapshot keeps its figures.
    create_member(world.school_a)
    create_member(world.school_a)
    ops.end_membership(None, world.members["a2"], EventKind.LEFT, today())
    world.school_a.name = "Переименованная школа"
    db.session.commit()
    page = client.get(f"/stats/snapshots/{snap.id}").get_data(as_text=True)
    row = page.split('<tr data-key="members">', 1)[1].split("</tr>", 1)[0]
    assert 'data-col="report">4<' in row and 'data-col="compare">5<' in row and 'data-col="diff">+1<' in row
    wb = load_workbook(BytesIO(client.get(f"/stats/snapshots/{snap.id}.xlsx").data))
    regional = wb["Региональная организация"]
    rows = list(regional.iter_rows(values_only=True))
    assert rows[2][0] == ra.name and rows[2][2] == 4  # «Всего на учёте» as frozen
    assert "Территориальная организация" in wb.sheetnames and "Первичная организация" in wb.sheetnames
    text = " ".join(pdf_pages(client.get(f"/stats/snapshots/{snap.id}.pdf").data))
    assert "Статистический отчёт" in text and ra.name in text and "Всего на учёте" in text


def test_report_with_two_dates_and_downloads(client, world):
    login(client, world.users["territorial_chair"])
    ta = world.terr_a
    earlier = today() - timedelta(days=30)
    m = create_member(world.school_a, joined_on=earlier - timedelta(days=5))
    ops.end_membership(None, m, EventKind.LEFT, earlier + timedelta(days=1))
    db.session.commit()
    r = client.get(f"/orgs/{ta.id}/report?on={earlier.isoformat()}&compare={today().isoformat()}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    # The world's members joined in 2010 (create_member's default): 2 then, plus m; 2 today.
    row = html.split('<tr data-key="members">', 1)[1].split("</tr>", 1)[0]
    assert 'data-col="report">3<' in row and 'data-col="compare">2<' in row
    r = client.get(f"/orgs/{ta.id}/report.xlsx?on={earlier.isoformat()}")
    wb = load_workbook(BytesIO(r.data))
    assert wb.sheetnames[:2] == ["Территориальная организация", "Первичная организация"]
    text = " ".join(pdf_pages(client.get(f"/orgs/{ta.id}/report.pdf?on={earlier.isoformat()}"
                                         f"&compare={today().isoformat()}").data))
    assert ta.name in text and earlier.strftime("%d.%m.%Y") in text
    # A bad date is said, and the default used.
    r = client.get(f"/orgs/{ta.id}/report?on=31.02.2026")
    assert r.status_code == 200 and "не распознана" in r.get_data(as_text=True)
    # A refused freeze comes back filled in with the message.
    r = client.post(f"/orgs/{ta.id}/report/freeze", data={"on": "", "title": "Мой отчёт"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Укажите дату отчёта." in html and 'value="Мой отчёт"' in html


def test_scope(make_app, world):
    from portal.stats.operations import freeze

    snap = freeze(world.users["regional_chair"], world.region_a, date(2026, 1, 1))
    db.session.commit()
    other = make_app().test_client()
    login(other, world.users["other_region_chair"])
    assert other.get(f"/orgs/{world.region_a.id}/report").status_code == 404
    assert other.get(f"/orgs/{world.region_a.id}/progress").status_code == 404
    assert other.get(f"/orgs/{world.region_b.id}/progress").status_code == 200
    assert other.get(f"/stats/snapshots/{snap.id}").status_code == 404
    assert other.get(f"/stats/snapshots/{snap.id}.xlsx").status_code == 404
    chair = make_app().test_client()
    login(chair, world.users["primary_chair"])
    assert chair.get(f"/stats/snapshots/{snap.id}").status_code == 404
    assert chair.get(f"/orgs/{world.school_a.id}/analytics").status_code == 200
    assert chair.get(f"/orgs/{world.school_a2.id}/analytics").status_code == 404
    regional = make_app().test_client()
    login(regional, world.users["regional_chair"])
    assert regional.get(f"/stats/snapshots/{snap.id}").status_code == 200


def test_start_page_does_not_call_more_members_than_staff_done(client, world):
    """«на учёте 40 из 9 возможных … готово» was the symptom: more members than staff is a data problem."""
    world.school_a.staff_count = 0
    db.session.commit()
    for _ in range(2):
        create_member(world.school_a)
    world.school_a.staff_count = 2
    db.session.commit()
    login(client, world.users["primary_chair"])
    html = client.get(f"/orgs/{world.school_a.id}").get_data(as_text=True)
    step = html.split('data-step="members"', 1)[1].split("</li>", 1)[0]
    # Not done, flagged as a data problem (no «готово»), the figures named, the link to the passport's staff field.
    assert 'data-done="no"' in step and 'data-problem="yes"' in step and 'data-testid="step-problem"' in step
    assert "готово" not in step
    assert "на учёте 3, а работающих по паспорту — 2" in step
    assert f'href="/orgs/{world.school_a.id}/passport#staff_count"' in step
    assert 'data-testid="level-problem"' in html  # and no membership level computed from it
