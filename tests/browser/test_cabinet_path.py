"""A member's path in Chromium at a phone's width: register by card, confirm the email from the outbox link, see the
card, go offline and still see it (the service worker's copy, with its «Обновлено» time), withdraw consent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.cabinet.models import MemberAccount
from portal.extensions import db
from portal.registry.models import ConsentStatus, Member, OrgLevel
from tests.browser.conftest import ACTION_TIMEOUT_MS, fresh_session
from tests.cabinet_helpers import card_holder, last_mail, link_in
from tests.conftest import create_org

pytestmark = pytest.mark.browser

PASSWORD = "мой-пароль-2026"


def test_member_registers_sees_the_card_offline_and_withdraws_consent(browser, live_server):
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Липецкая областная организация")
    school = create_org(region, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка")
    member = card_holder(school, last_name="Королёва", first_name="Вера", patronymic="Николаевна",
                         email="vera@example.org")
    member_id, number = member.id, member.card_number
    fresh_session()

    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", viewport={"width": 390, "height": 844},
                              is_mobile=True, has_touch=True)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    try:
        # step 1: the name as people type it (ё as е, lower case) and the card number with spaces
        page.goto("/cabinet/register")
        page.get_by_label("Фамилия").fill("королева")
        page.get_by_label("Имя").fill("Вера")
        page.get_by_label("Отчество (если есть)").fill("Николаевна")
        page.get_by_label("Номер профсоюзного билета").fill(" ".join(number[i:i + 4] for i in range(0, 16, 4)))
        page.get_by_role("button", name="Зарегистрироваться").click()
        # step 2: the registry's email is filled in; phone, password twice, rules
        expect(page.get_by_role("heading", name="Здравствуйте, Вера!")).to_be_visible()
        expect(page.get_by_label("E-mail")).to_have_value("vera@example.org")
        page.get_by_label("Мобильный телефон").fill("+7 900 123-45-67")
        page.get_by_label("Пароль", exact=True).fill(PASSWORD)
        page.get_by_label("Пароль ещё раз").fill(PASSWORD)
        page.locator("#rules").check()
        page.get_by_role("button", name="Сохранить").click()
        expect(page.get_by_test_id("registered")).to_contain_text("vera@example.org")

        # the confirmation link, read from the outbox
        fresh_session()
        link = link_in(last_mail("member_confirm", "vera@example.org").body)
        fresh_session()
        page.goto(link)
        expect(page.get_by_role("alert")).to_contain_text("Адрес электронной почты подтверждён")
        page.get_by_label("Номер профсоюзного билета").fill(number)
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()
        expect(page.get_by_role("heading", name="Здравствуйте, Вера!")).to_be_visible()

        # the card, with its QR code; the service worker takes over and keeps a copy
        page.get_by_role("link", name="Билет", exact=True).click()
        expect(page.get_by_test_id("card-number")).to_have_text(number)
        expect(page.get_by_test_id("card-name")).to_have_text("Королёва Вера Николаевна")
        expect(page.get_by_test_id("qr").locator("svg")).to_be_visible()
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()  # now controlled by the worker, which saves this answer
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.wait_for_function("caches.open('cabinet-v1').then(c => c.match('/cabinet/card')).then(r => !!r)")
        refreshed = page.get_by_test_id("refreshed").get_attribute("data-rendered-at")

        # no network at all: the card still opens, says it is a saved copy and when it was refreshed
        ctx.set_offline(True)
        page.reload()
        expect(page.get_by_test_id("card-number")).to_have_text(number)
        expect(page.get_by_test_id("offline-note")).to_be_visible()
        expect(page.get_by_test_id("refreshed")).to_have_attribute("data-rendered-at", refreshed)
        expect(page.get_by_test_id("refreshed")).to_contain_text("Обновлено")
        ctx.set_offline(False)

        # withdraw consent: the chairs' transition, then the cabinet is closed
        page.goto("/cabinet/data")
        expect(page.get_by_test_id("consent-status")).to_have_text("согласие подписано")
        page.get_by_test_id("withdraw-link").click()
        page.get_by_test_id("withdraw-confirm").click()
        expect(page.locator(".invalid-feedback")).to_contain_text("Подтвердите отзыв согласия")
        page.locator("#confirm").check()
        page.get_by_test_id("withdraw-confirm").click()
        expect(page).to_have_url(re.compile(r"/cabinet/closed$"))
        expect(page.get_by_role("heading", name="Личный кабинет закрыт")).to_be_visible()
        # the saved card is forgotten with the cabinet
        page.wait_for_function("caches.keys().then(k => k.length === 0)")
        page.goto("/cabinet/card")
        expect(page).to_have_url(re.compile(r"/cabinet/login"))
    finally:
        ctx.close()

    fresh_session()
    assert db.session.get(Member, member_id).consent_status == ConsentStatus.WITHDRAWN
    account = db.session.scalar(select(MemberAccount).where(MemberAccount.member_id == member_id))
    assert account.closed_at is not None and account.email_confirmed_at is not None
    assert account.phone == "+79001234567"
