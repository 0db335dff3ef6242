"""The regional office's progress table in a real browser: sort, filter, open a child, download the XLSX."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from portal.auth.models import Role
from portal.extensions import db
from portal.registry.models import OrgLevel
from tests.browser.conftest import browser_login, fresh_session
from tests.conftest import create_member, create_org, create_user

pytestmark = pytest.mark.browser


def test_regional_office_progress_table(page, live_server):
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Липецкая областная организация")
    lipetsk = create_org(region, OrgLevel.TERRITORIAL, "Городская организация г. Липецка")
    yelets = create_org(region, OrgLevel.TERRITORIAL, "Районная организация г. Ельца")
    school = create_org(lipetsk, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка", staff_count=10)
    create_org(yelets, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 1 г. Ельца", staff_count=10)
    for _ in range(3):
        create_member(school)
    create_user(region, Role.REGIONAL_STAFF, "regoffice")
    ids = {"region": region.id, "lipetsk": lipetsk.id, "yelets": yelets.id}
    db.session.expunge_all()
    fresh_session()

    browser_login(page, "regoffice")
    page.goto(live_server(f"/orgs/{ids['region']}/progress"))
    table = page.get_by_test_id("progress-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    # Sort by members, descending: Lipetsk (3) first.
    page.locator('a[data-sort="members"]').click()
    page.locator('a[data-sort="members"]').click()
    expect(rows.first).to_have_attribute("data-org", str(ids["lipetsk"]))
    expect(rows.nth(1)).to_have_attribute("data-org", str(ids["yelets"]))
    # Filter by name.
    page.get_by_label("Название содержит").fill("Ельц")
    page.get_by_role("button", name="Показать").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-org", str(ids["yelets"]))
    # Download what is shown.
    with page.expect_download() as info:
        page.get_by_test_id("progress-xlsx").click()
    data = open(info.value.path(), "rb").read()
    sheet = list(load_workbook(BytesIO(data)).active.iter_rows(values_only=True))
    assert [r[0] for r in sheet[2:]] == ["Районная организация г. Ельца"]
    # Open the child.
    rows.first.get_by_role("link", name="Районная организация г. Ельца").click()
    expect(page).to_have_url(re.compile(f"/orgs/{ids['yelets']}/analytics$"))
    expect(page.get_by_role("heading", name=re.compile("^Аналитика: "))).to_be_visible()
    expect(page.get_by_test_id("members-total")).to_have_text("0")
