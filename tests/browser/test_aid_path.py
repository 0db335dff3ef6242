"""Material aid in a real browser: the chair files a petition (seeing the amount and the problems live), the
regional office reviews it, a presidium member decides it from the queue."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from portal.aid import operations as ops
from portal.aid.models import AidPetition, PetitionState
from portal.auth.models import Role
from portal.extensions import db
from portal.registry.models import OrgLevel
from tests.aid_helpers import BIK, PDF, account
from tests.browser.conftest import ACTION_TIMEOUT_MS, browser_login, fresh_session
from tests.conftest import create_member, create_org, create_user
from workflows.aid import seed_regulation

pytestmark = pytest.mark.browser


@pytest.fixture
def aid_world(live_server):
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Саратовская областная организация")
    town = create_org(region, OrgLevel.TERRITORIAL, "Городская организация г. Саратова")
    school = create_org(town, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 4 г. Саратова")
    ops.save_regulation(None, region, seed_regulation(), valid_from=date(2020, 1, 1))
    db.session.commit()
    member = create_member(school, last_name="Кузнецова", first_name="Ирина", patronymic="Львовна",
                           joined_on=date(2010, 9, 1))
    users = {"chair": create_user(school, Role.PRIMARY_CHAIR, "chair4"),
             "staff": create_user(region, Role.REGIONAL_STAFF, "saratov-staff"),
             "presidium": create_user(region, Role.PRESIDIUM_MEMBER, "saratov-presidium")}
    out = {"member_id": member.id, "member_name": member.full_name, "logins": {k: u.login for k, u in users.items()}}
    fresh_session()
    return out


def _new_page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    return ctx, ctx.new_page()


def test_file_review_decide_through_the_ui(page, browser, live_server, aid_world, tmp_path):
    start = date.today() - timedelta(days=30)

    # 1. The chair fills the form; the amount and the problems appear while typing, before filing.
    browser_login(page, aid_world["logins"]["chair"])
    page.get_by_role("link", name="Материальная помощь").click()
    page.get_by_test_id("aid-new").click()
    page.get_by_label("Член Профсоюза").select_option(str(aid_world["member_id"]))
    page.get_by_label("Санаторий (наименование)").fill("Санаторий «Черноморец»")
    page.get_by_label("Начало лечения").fill(start.isoformat())
    page.get_by_label("Окончание лечения").fill((start + timedelta(days=8)).isoformat())  # 9 days: too short
    quote = page.get_by_test_id("aid-quote")
    expect(quote.get_by_test_id("aid-amount")).to_have_text(re.compile(r"^6\D000,00 руб\.$"))
    expect(quote.locator('[data-rule="min_stay"]')).to_contain_text("9 дн.")
    page.get_by_label("Как получена путёвка").select_option("fsb")
    expect(quote.locator('[data-rule="voucher_source"]')).to_contain_text("ФСБ")
    page.get_by_label("Как получена путёвка").select_option("union_programme")
    page.get_by_label("Окончание лечения").fill((start + timedelta(days=9)).isoformat())  # 10 days inclusive
    page.get_by_label("Номер протокола профкома").fill("11")
    page.get_by_label("Номер счёта (20 цифр)").fill(account(7))
    page.get_by_label("БИК банка (9 цифр)").fill(BIK)
    page.get_by_label("Банк", exact=True).fill("ПАО Сбербанк")
    expect(quote.get_by_test_id("aid-eligible")).to_be_visible()
    expect(quote.locator("[data-rule]")).to_have_count(0)
    page.get_by_test_id("aid-file").click()

    expect(page.get_by_test_id("aid-state")).to_have_text("подано")
    expect(page.get_by_test_id("aid-petition-amount")).to_have_text("6\u00a0000,00 руб.")
    proof = tmp_path / "talon.pdf"
    proof.write_bytes(PDF)
    upload = page.get_by_test_id("aid-upload")
    upload.get_by_label("Файл (PDF, JPEG или PNG, до 10 МБ)").set_input_files(str(proof))
    upload.get_by_role("button", name="Приложить").click()
    expect(page.get_by_test_id("aid-documents")).to_contain_text("копия отрывного талона")

    fresh_session()
    petition = db.session.query(AidPetition).one()
    pid, number = petition.id, petition.number
    assert petition.amount == petition.computed_amount and str(petition.amount) == "6000.00"
    assert petition.treatment_end - petition.treatment_start == timedelta(days=9)
    fresh_session()

    # 2. The regional office reviews it.
    ctx2, staff = _new_page(browser, live_server)
    try:
        browser_login(staff, aid_world["logins"]["staff"])
        staff.goto("/aid/petitions?state=filed")
        staff.get_by_role("link", name=number).click()
        staff.get_by_test_id("aid-action-review").click()
        expect(staff.get_by_test_id("aid-state")).to_have_text("проверено аппаратом")
    finally:
        ctx2.close()

    # 3. A presidium member decides it from the queue, with the meeting's date and number.
    ctx3, presidium = _new_page(browser, live_server)
    try:
        browser_login(presidium, aid_world["logins"]["presidium"])
        expect(presidium).to_have_url(re.compile(r"/aid/queue$"))
        row = presidium.get_by_test_id("aid-queue").get_by_role("row").filter(has_text=number)
        expect(row).to_contain_text(aid_world["member_name"])
        expect(row).to_contain_text("выполнены")
        presidium.get_by_test_id(f"aid-tick-{pid}").check()
        presidium.get_by_label("Дата заседания Президиума").fill(date.today().isoformat())
        presidium.get_by_label("Номер протокола").fill("23")
        presidium.get_by_test_id("aid-queue-approve").click()
        expect(presidium.get_by_role("alert").filter(has_text=number)).to_be_visible()
        expect(presidium.get_by_text("Проверенных ходатайств нет.")).to_be_visible()
    finally:
        ctx3.close()

    fresh_session()
    petition = db.session.get(AidPetition, pid)
    assert petition.state == PetitionState.APPROVED
    assert (petition.decision_date, petition.decision_number) == (date.today(), "23")
    fresh_session()
