"""Security in a real browser: forged cross-origin form posts (CSRF) and stored XSS in free-text fields.

CSRF: an attacker's page on another origin (another port of 127.0.0.1) auto-submits a form to the portal while the
victim is logged in in the same browser. 127.0.0.1 on two ports is the same *site*, so the browser sends the
SameSite=Lax session cookie along: the CSRF token is the only thing standing between the attacker and the data, and
that is exactly what these tests check (the cookie and the foreign Origin header are asserted on the request).

XSS: payloads typed into the passport, the member card and a correction request must come back as text on every
page that shows them, and no script may run (a `dialog` would fire: the probe test shows that the listener sees one).
"""

from __future__ import annotations

import html
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.auth.models import Role
from portal.extensions import db
from portal.registry.models import CorrectionRequest, Member, MemberEvent, MemberStatus, Organisation
from tests.browser.conftest import browser_login, fresh_session
from tests.conftest import create_member, create_user

pytestmark = pytest.mark.browser

CSRF_MESSAGE = "Страница устарела или форма отправлена не с портала."


def _attack_page(action: str, fields: dict[str, str]) -> str:
    inputs = "\n".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                       for k, v in fields.items())
    return f"""<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Розыгрыш путёвок</title></head>
<body><h1>Поздравляем! Вы выиграли путёвку</h1>
<form id="f" method="post" action="{html.escape(action)}">{inputs}</form>
<script>document.getElementById("f").submit();</script></body></html>"""


def _attackers_own_token(browser, live_server, world) -> str:
    """A genuine, correctly signed CSRF token, but of the attacker's own session (an account of another school)."""
    create_user(db.session.get(Organisation, world.other_school.id), Role.PRIMARY_CHAIR, "attacker")
    fresh_session()
    ctx = browser.new_context(base_url=live_server.url)
    try:
        p = ctx.new_page()
        browser_login(p, "attacker")
        p.goto(f"/orgs/{world.other_school.id}/passport")
        token = p.locator('input[name="csrf_token"]').first.get_attribute("value")
    finally:
        ctx.close()
    assert token and len(token) > 20
    return token


def _submit_forged(page, foreign_site, path: str, html_page: str, target: str):
    """Open the attacker's page; it posts to `target` by itself. Returns the portal's response to that post."""
    url = foreign_site.serve(path, html_page)
    with page.expect_response(lambda r: r.url == target and r.request.method == "POST") as info:
        page.goto(url)
    response = info.value
    headers = response.request.all_headers()
    # A real cross-origin post that carried the victim's session: only the CSRF token can stop it.
    assert headers.get("origin") == foreign_site.origin
    assert "portal_session=" in headers.get("cookie", "")
    assert response.status == 400
    expect(page.get_by_text(CSRF_MESSAGE)).to_be_visible()
    expect(page.get_by_role("button", name="Выйти")).to_be_visible()  # the error page was rendered for the victim
    return response


def test_forged_leave_from_a_foreign_origin_changes_nothing(page, browser, live_server, chair_world, foreign_site):
    school = db.session.get(Organisation, chair_world.school.id)
    member = create_member(school, last_name="Белова", first_name="Нина")
    member_id, events_before = member.id, len(member.events)
    fresh_session()
    browser_login(page, chair_world.chair.login)
    target = live_server(f"/members/{member_id}/leave")
    fields = {"on_date": "2025-01-10", "reason": "Заявление о выходе"}

    _submit_forged(page, foreign_site, "/prize", _attack_page(target, fields), target)
    token = _attackers_own_token(page.context.browser, live_server, chair_world)
    _submit_forged(page, foreign_site, "/prize2", _attack_page(target, {**fields, "csrf_token": token}), target)
    assert foreign_site.requests == ["GET /prize", "GET /prize2"]

    fresh_session()
    m = db.session.get(Member, member_id)
    assert m.status == MemberStatus.ACTIVE
    assert db.session.scalar(select(func.count()).select_from(MemberEvent)
                             .where(MemberEvent.member_id == member_id)) == events_before
    fresh_session()

    # Control: the same fields through the portal's own form (with its token) do take effect,
    # so the forged posts above failed on the token and not on a malformed request.
    page.goto(f"/members/{member_id}/leave")
    page.get_by_label("Дата решения").fill(fields["on_date"])
    page.get_by_label("Основание").fill(fields["reason"])
    page.get_by_role("button", name="Подтвердить").click()
    expect(page.get_by_test_id("member-name")).to_be_visible()
    fresh_session()
    assert db.session.get(Member, member_id).status == MemberStatus.LEFT
    fresh_session()


def test_forged_passport_post_from_a_foreign_origin_changes_nothing(page, browser, live_server, chair_world,
                                                                     foreign_site):
    school_id = chair_world.school.id
    fresh_session()
    before = {k: getattr(db.session.get(Organisation, school_id), k)
              for k in ("name", "short_name", "inn", "address", "chair_name", "chair_email", "staff_count")}
    fresh_session()
    browser_login(page, chair_world.chair.login)
    target = live_server(f"/orgs/{school_id}/passport")
    fields = {"name": "Организация ликвидирована", "short_name": "—", "inn": "0000000000", "kind": "other",
              "address": "нет", "chair_name": "Злоумышленник", "chair_email": "attacker@evil.example",
              "staff_count": "1"}

    _submit_forged(page, foreign_site, "/win", _attack_page(target, fields), target)
    token = _attackers_own_token(page.context.browser, live_server, chair_world)
    _submit_forged(page, foreign_site, "/win2", _attack_page(target, {**fields, "csrf_token": token}), target)

    fresh_session()
    org = db.session.get(Organisation, school_id)
    assert {k: getattr(org, k) for k in before} == before
    assert org.name_confirmed_at is None
    fresh_session()


# ---- stored XSS ------------------------------------------------------------------------------------------------

XSS_SCRIPT = '<script>window.__xss="script";alert("xss-script")</script>'
XSS_IMG = "<img src=x onerror=\"window.__xss='img';alert('xss-img')\">"
XSS_SVG = '"><svg onload=alert("xss-svg")><b>жирный</b>'


def _assert_inert(page) -> None:
    """No payload became markup: no dialog, no flag set by a payload, no injected element in the DOM."""
    assert page.dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    expect(page.locator('img[src="x"]')).to_have_count(0)
    expect(page.locator("svg[onload]")).to_have_count(0)
    expect(page.locator("main b", has_text="жирный")).to_have_count(0)
    expect(page.locator("script", has_text="__xss")).to_have_count(0)


def test_dialog_probe_sees_a_script_that_runs(page, foreign_site):
    """The XSS tests rely on the `dialog` listener of the `page` fixture: show that it catches a payload that runs."""
    page.goto(foreign_site.serve("/probe", f"<!doctype html><p>probe</p>{XSS_IMG}{XSS_SCRIPT}"))
    expect(page.get_by_text("probe")).to_be_visible()
    kinds = sorted(message for _, message in page.dialogs)
    assert kinds == ["xss-img", "xss-script"]
    assert page.evaluate("window.__xss") in ("img", "script")


def test_stored_xss_payloads_are_shown_as_text(page, chair_world):
    school_id = chair_world.school.id
    org_name = f"ППО МБОУ СОШ № 17 {XSS_IMG}"
    short_name = f"СОШ № 17 {XSS_SCRIPT}"
    browser_login(page, chair_world.chair.login)

    # The passport, through the UI: name, address and chair's name.
    page.goto(f"/orgs/{school_id}/passport")
    page.get_by_label("Полное наименование", exact=True).fill(org_name)  # not the employer's «… полное наименование»
    page.get_by_label("Краткое наименование").fill(short_name)
    page.get_by_label("Адрес", exact=True).fill(f"г. Липецк {XSS_SCRIPT}")
    page.get_by_label("Председатель (ФИО)").fill(XSS_SVG)
    page.get_by_role("button", name="Сохранить паспорт").click()
    expect(page.get_by_role("alert").filter(has_text="Паспорт сохранён.")).to_be_visible()
    expect(page.get_by_test_id("org-name")).to_have_text(org_name)
    expect(page.locator("main")).to_contain_text(f"г. Липецк {XSS_SCRIPT}")
    expect(page.locator("main")).to_contain_text(XSS_SVG)
    _assert_inert(page)
    fresh_session()
    assert db.session.get(Organisation, school_id).name == org_name  # stored as typed, escaped only on output
    fresh_session()

    # A member card edited through the UI: position and department.
    school = db.session.get(Organisation, school_id)
    member = create_member(school, last_name="Белова", first_name="Нина")
    member_id = member.id
    fresh_session()
    page.goto(f"/members/{member_id}/edit")
    page.get_by_label("Должность", exact=False).fill(f"учитель {XSS_IMG}")
    page.get_by_label("Подразделение").fill(XSS_SCRIPT)
    page.get_by_label("Адрес проживания").fill(XSS_SVG)
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_test_id("member-name")).to_have_text("Белова Нина Петровна")
    card = page.locator("main")
    for text in (f"учитель {XSS_IMG}", XSS_SCRIPT, XSS_SVG, org_name):
        expect(card).to_contain_text(text)
    _assert_inert(page)

    # The member list shows the position (wide screen) and the organisation's (short) name.
    page.goto(f"/orgs/{school_id}/members")
    row = page.get_by_test_id("members-table").locator("tbody tr", has_text="Белова")
    expect(row).to_contain_text(f"учитель {XSS_IMG}")
    expect(page.locator("main")).to_contain_text(short_name)
    _assert_inert(page)

    # A correction request, typed by the chair ...
    page.goto(f"/orgs/{school_id}/correction")
    request_text = f"Нас объединили со школой № 5. {XSS_SCRIPT}\n{XSS_IMG}"
    page.get_by_label("Что нужно исправить").fill(request_text)
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("alert").filter(has_text="Запрос отправлен")).to_be_visible()
    fresh_session()
    assert db.session.scalar(select(func.count()).select_from(CorrectionRequest)
                             .where(CorrectionRequest.org_id == school_id)) == 1
    fresh_session()
    _assert_inert(page)

    # ... and read by the chair of the organisation above in the corrections queue.
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("button", name="Войти")).to_be_visible()
    browser_login(page, chair_world.territorial_chair.login)
    page.goto("/corrections")
    queue = page.locator("main")
    expect(queue.locator("p", has_text="Нас объединили")).to_have_text(re.compile(
        re.escape(f"Нас объединили со школой № 5. {XSS_SCRIPT}") + r"\s+" + re.escape(XSS_IMG)))
    expect(queue.get_by_role("link", name=short_name)).to_be_visible()
    _assert_inert(page)

    # The top search lists the member with her organisation's (short) name.
    page.goto("/search?q=белова")
    expect(page.get_by_test_id("members-table")).to_contain_text(short_name)
    _assert_inert(page)
