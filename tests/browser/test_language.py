"""The language switch in a real browser with an English Accept-Language: Russian until the chair clicks «English»."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ACTION_TIMEOUT_MS, browser_login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def english_browser_page(browser, live_server):
    """A profile whose browser language is English, as many of the union's staff have."""
    ctx = browser.new_context(base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    yield page
    ctx.close()


def test_switch_to_english_and_back_keeps_the_page_and_survives_login(english_browser_page, chair_world):
    page = english_browser_page
    browser_login(page, chair_world.chair.login)  # the form is Russian despite the English browser
    expect(page.locator("html")).to_have_attribute("lang", "ru")

    page.goto(f"/orgs/{chair_world.school.id}/members")
    page.get_by_test_id("lang-switch").get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{chair_world.school.id}/members$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Union members")
    expect(page.get_by_role("link", name="My organisation")).to_be_visible()

    # The choice is kept across logging out and in again.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out of the portal.")).to_be_visible()
    page.get_by_label("Login").fill(chair_world.chair.login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Where to start: the chair's steps")).to_be_visible()

    page.get_by_test_id("lang-switch").get_by_role("link", name="Русский").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name="С чего начать: шаги председателя")).to_be_visible()
