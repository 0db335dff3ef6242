"""The primary chair's first day, in a real browser: checklist, passport, first member, search.

Each step is checked on the page (what the chair sees) and in the database (what was stored).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.registry.models import Member, Organisation
from tests.browser.conftest import browser_login, fresh_session
from tests.conftest import create_member

pytestmark = pytest.mark.browser


def _member_count(org_id: int) -> int:
    fresh_session()
    n = db.session.scalar(select(func.count()).select_from(Member).where(Member.org_id == org_id))
    fresh_session()
    return n


def test_chair_fills_passport_and_sees_the_checklist_step_done(page, chair_world):
    school = chair_world.school
    browser_login(page, chair_world.chair.login)

    # The start page is the chair's organisation with the checklist; the passport step is still open.
    expect(page).to_have_url(re.compile(rf"/orgs/{school.id}$"))
    expect(page.get_by_test_id("org-name")).to_have_text(school.name)
    step = page.locator('[data-step="passport"]')
    expect(step).to_contain_text("Паспорт организации заполнен")
    expect(step).to_have_attribute("data-done", "no")
    expect(step).to_contain_text("не завершено")

    page.get_by_role("link", name="Паспорт организации", exact=True).click()
    expect(page.get_by_role("heading", name="Паспорт организации")).to_be_visible()
    # The union organisation's own INN (the consent's operator); the school's is «ИНН учреждения» (institution_inn).
    page.get_by_label("ИНН профсоюзной организации").fill("4826012345")
    page.get_by_label("Адрес", exact=True).fill("398001, г. Липецк, ул. Советская, д. 1")
    page.get_by_label("Председатель (ФИО)").fill("Петрова Галина Ивановна")
    page.get_by_label("Телефон председателя").fill("+7 (474) 222-33-44")
    page.get_by_label("E-mail председателя").fill("school17@example.ru")
    page.get_by_role("button", name="Сохранить паспорт").click()

    expect(page.get_by_role("alert").filter(has_text="Паспорт сохранён.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/orgs/{school.id}$"))
    step = page.locator('[data-step="passport"]')
    expect(step).to_have_attribute("data-done", "yes")
    expect(step).to_contain_text("готово")
    expect(step).to_contain_text("всё заполнено")

    fresh_session()
    org = db.session.get(Organisation, school.id)
    assert (org.inn, org.chair_name, org.chair_email) == ("4826012345", "Петрова Галина Ивановна", "school17@example.ru")
    assert org.passport_missing() == []
    fresh_session()


def _fill_member_form(page, joined_on: str) -> None:
    page.get_by_label("Фамилия", exact=True).fill("Королёва")
    page.get_by_label("Имя", exact=True).fill("Вера")
    page.get_by_label("Отчество", exact=True).fill("Николаевна")
    page.get_by_label("Дата рождения").fill("1988-05-20")
    page.get_by_label("Пол", exact=True).select_option(label="женский")
    page.get_by_label("Категория").select_option(label="работающий")
    page.get_by_label("Должность", exact=False).fill("учитель биологии")
    page.get_by_label("Образование").select_option(label="высшее")
    page.get_by_label("Форма уплаты взносов").select_option(label="безналичная")
    page.get_by_label("Дата вступления в Профсоюз").fill(joined_on)


def test_chair_adds_a_member_after_a_validation_error_and_finds_her(page, chair_world):
    school = chair_world.school
    create_member_decoys(school.id)
    browser_login(page, chair_world.chair.login)
    before = _member_count(school.id)

    page.get_by_role("link", name="Добавить члена Профсоюза").click()
    expect(page.get_by_role("heading", name="Постановка на учёт")).to_be_visible()
    _fill_member_form(page, joined_on="1980-09-01")  # before the birth date
    page.get_by_role("button", name="Сохранить", exact=True).click()

    # The form comes back with the message next to the joining date, the typed values kept, nothing stored.
    joined = page.locator("#joined_on")
    expect(joined).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#joined_on ~ .invalid-feedback")).to_have_text("Вступила раньше, чем родилась.")
    expect(page.locator("#birth_date")).not_to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.get_by_role("alert").filter(has_text="Карточка не сохранена")).to_be_visible()
    expect(page.get_by_label("Фамилия", exact=True)).to_have_value("Королёва")
    assert _member_count(school.id) == before

    joined.fill("2012-09-01")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_test_id("member-name")).to_have_text("Королёва Вера Николаевна")
    expect(page).to_have_url(re.compile(r"/members/\d+$"))
    assert _member_count(school.id) == before + 1
    fresh_session()
    stored = db.session.scalar(select(Member).where(Member.org_id == school.id, Member.last_name == "Королёва"))
    assert stored is not None and stored.joined_on.isoformat() == "2012-09-01"
    assert stored.position == "учитель биологии"
    fresh_session()

    # The top search box: a lower-case prefix with ё typed as е.
    top = page.get_by_role("search").filter(has=page.get_by_label("Поиск члена Профсоюза"))
    top.get_by_label("Поиск члена Профсоюза").fill("королев")
    top.get_by_role("button", name="Найти").click()
    expect(page).to_have_url(re.compile(r"/search\?q="))
    results = page.get_by_test_id("members-table")
    expect(results.get_by_role("link", name="Королёва Вера Николаевна")).to_be_visible()
    expect(results.locator("tbody tr")).to_have_count(1)  # not the decoys Королькова and Корнеева

    # The member list's own search.
    page.get_by_role("link", name="Члены Профсоюза", exact=True).first.click()
    expect(page.get_by_role("heading", name="Члены Профсоюза")).to_be_visible()
    expect(page.get_by_test_id("members-total")).to_have_text(re.compile(rf"Найдено: {before + 1}\b"))
    page.get_by_label("Фамилия или номер билета").fill("королев")
    page.get_by_role("button", name="Показать").click()
    expect(page.get_by_test_id("members-total")).to_have_text(re.compile(r"Найдено: 1\b"))
    table = page.get_by_test_id("members-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    table.get_by_role("link", name="Королёва Вера Николаевна").click()
    expect(page.get_by_test_id("member-name")).to_have_text("Королёва Вера Николаевна")


def create_member_decoys(org_id: int) -> None:
    """Members whose surnames share a shorter prefix, so a search that ignored the query would show them too."""
    fresh_session()
    org = db.session.get(Organisation, org_id)
    create_member(org, last_name="Королькова", first_name="Анна")
    create_member(org, last_name="Корнеева", first_name="Ольга")
    fresh_session()
