"""News in a real browser: an editor writes and publishes a public item, a reader who is not logged in finds it
by another form of its words, and the RSS and Atom feeds carry it (parsed back as XML). The member cabinet is on
another branch, so the reader here is the public one (readers.current_member is the seam)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import expect

from portal.auth.models import Role
from portal.registry.models import OrgLevel
from tests.browser.conftest import ACTION_TIMEOUT_MS, browser_login, fresh_session
from tests.conftest import create_org, create_user

pytestmark = pytest.mark.browser


def test_editor_publishes_and_a_reader_finds_it_by_another_word_form(page, browser, live_server):
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    create_user(central, Role.NEWS_EDITOR, "editor-cs")
    fresh_session()

    browser_login(page, "editor-cs")
    page.get_by_role("link", name="Редакция").click()
    page.get_by_role("link", name="Новая новость").click()
    page.get_by_label("Заголовок").fill("Профсоюзом выпущены электронные билеты")
    page.get_by_label("Анонс").fill("Карты получат все члены Профсоюза.")
    page.get_by_label("Текст").fill("<p>Электронные профсоюзные билеты выдаются в первичных организациях.</p>"
                                    "<script>alert(1)</script>")
    page.get_by_label("Рубрика").select_option("union")
    page.get_by_label("Публичная новость").check()
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Новость сохранена.")).to_be_visible()
    page.get_by_role("button", name="Опубликовать").click()
    expect(page.get_by_text("опубликована").first).to_be_visible()
    assert page.dialogs == []  # the script was removed, nothing ran

    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", viewport={"width": 390, "height": 844})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    reader = ctx.new_page()
    reader.goto("/public/news/")
    reader.get_by_label("Поиск по новостям").fill("профсоюза билет")
    reader.get_by_role("button", name="Найти").click()
    hit = reader.locator(".search-results a").first
    expect(hit).to_contain_text("Профсоюзом выпущены электронные билеты")
    expect(hit.locator("mark").first).to_be_visible()
    hit.click()
    expect(reader.get_by_role("heading", name="Профсоюзом выпущены электронные билеты")).to_be_visible()

    rss = ET.fromstring(reader.request.get("/public/news/feed.rss").body())
    assert rss.get("version") == "2.0"
    assert [i.findtext("title") for i in rss.iter("item")] == ["Профсоюзом выпущены электронные билеты"]
    atom = ET.fromstring(reader.request.get("/public/news/feed.atom").body())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = atom.find("a:entry", ns)
    assert entry.findtext("a:title", namespaces=ns) == "Профсоюзом выпущены электронные билеты"
    assert entry.find("a:link", ns).get("href") == reader.url
    ctx.close()
