"""A chair on a phone (390×844, like an iPhone 12–15): the member list and the member card fit the screen's width.

The page body must not scroll sideways; a wide table may scroll inside its own `.table-responsive` box.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.registry.models import Organisation
from tests.browser.conftest import ACTION_TIMEOUT_MS, browser_login, fresh_session
from tests.conftest import create_member

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}

# On a mobile viewport Chromium widens the layout viewport to fit content that sticks out (innerWidth grows with
# scrollWidth), so both are compared with the device width itself, not with each other only.
OVERFLOW_JS = """(width) => {
  const root = document.scrollingElement;
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => !e.closest('.table-responsive, .collapse:not(.show)'))
    .filter(e => e.getBoundingClientRect().right > width + 1
                 || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
               + ' → ' + Math.round(e.getBoundingClientRect().right) + 'px')
    .slice(0, 8);
  return {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide};
}"""


@pytest.fixture
def phone_page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", **PHONE)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    p = ctx.new_page()
    yield p
    ctx.close()


def _assert_no_sideways_scroll(page, what: str) -> None:
    width = PHONE["viewport"]["width"]
    m = page.evaluate(OVERFLOW_JS, width)
    assert m["scrollWidth"] <= m["innerWidth"] == width, (
        f"{what}: the page is {m['scrollWidth']}px wide on a {width}px screen (innerWidth {m['innerWidth']}); "
        f"elements past the edge: {m['wide']}")


def test_member_list_and_card_fit_a_phone_screen(phone_page, chair_world):
    page = phone_page
    school = db.session.get(Organisation, chair_world.school.id)
    # Realistic long values: a double surname, a long position and department, a long e-mail and address.
    member = create_member(school, last_name="Римская-Корсакова", first_name="Александра", patronymic="Вячеславовна",
                           position="учитель русского языка и литературы, классный руководитель 11 «Б» класса",
                           department="кафедра гуманитарных дисциплин и дополнительного образования",
                           email="valentina.konstantinopolskaya1975@yandex.ru",
                           phone="+7 (474) 222-33-44",
                           address="398001, Липецкая область, г. Липецк, ул. Интернациональная, д. 100, кв. 250")
    for _ in range(12):
        create_member(school, first_name="Мария")
    member_id = member.id
    fresh_session()

    browser_login(page, chair_world.chair.login)
    page.goto(f"/orgs/{chair_world.school.id}/members")
    expect(page.get_by_test_id("members-table").locator("tbody tr")).to_have_count(13)
    _assert_no_sideways_scroll(page, "member list")

    page.goto(f"/members/{member_id}")
    expect(page.get_by_test_id("member-name")).to_have_text("Римская-Корсакова Александра Вячеславовна")
    _assert_no_sideways_scroll(page, "member card")
