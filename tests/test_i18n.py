"""The English interface: choosing the language, English pages, forms and messages, and the catalogue itself."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import login

CATALOGUE = Path(__file__).resolve().parent.parent / "portal" / "translations" / "en" / "LC_MESSAGES"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _chrome(response, *data: str) -> str:
    """The page's visible text with the given data (names of people and organisations) and the switch's «Русский» cut out."""
    page = response.get_data(as_text=True)
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    for value in (*data, "Русский"):
        text = text.replace(value, " ")
    return text


def _assert_english(response, *data: str) -> None:
    text = _chrome(response, *data)
    left = sorted({m.group(0) for m in re.finditer(r"\S*[А-Яа-яЁё]\S*", text)})
    assert not left, f"Russian left in the English page: {left[:20]}"


def _catalogue():
    with open(CATALOGUE / "messages.po", "rb") as fh:
        return read_po(fh, locale="en")


def test_russian_is_the_default_and_the_browser_language_is_ignored(client):
    r = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    page = r.get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert "Вход в реестр" in page and "Log in to the registry" not in page


def test_lang_parameter_gives_an_english_login_page(client):
    r = client.get("/login?lang=en")
    page = r.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Log in to the registry" in page
    assert "Your login and password are issued by the higher organisation of the union." in page
    assert ">Login</label>" in page and ">Password</label>" in page
    _assert_english(r)
    # ?lang= is remembered for the next pages, like the switch.
    assert "Log in to the registry" in client.get("/login").get_data(as_text=True)


def test_the_footer_switch_keeps_the_choice_and_goes_back_only_to_portal_paths(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/lang/en?next=/login"' in page
    r = client.get("/lang/en?next=/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert "Log in to the registry" in client.get("/login").get_data(as_text=True)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = client.get("/lang/ru", query_string={"next": target})
        assert r.status_code == 302 and "evil" not in r.headers["Location"]
    assert "Вход в реестр" in client.get("/login").get_data(as_text=True)
    # An unknown language changes nothing.
    client.get("/lang/de?next=/login")
    assert "Вход в реестр" in client.get("/login").get_data(as_text=True)


def test_the_choice_survives_login_and_logout(client, world):
    client.get("/lang/en")
    r = client.post("/login", data={"login": "schoolchair", "password": "wrong-password-1"})
    assert "Wrong login or password." in r.get_data(as_text=True)
    login(client, "schoolchair")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "My organisation" in home and "Log out" in home
    r = client.post("/logout", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "You have logged out of the portal." in page  # a flash message, in English
    _assert_english(r)


def test_english_member_list_has_no_russian_chrome(client, world):
    login(client, "regchair")
    org = world.region_a
    r = client.get(f"/orgs/{org.id}/members?lang=en")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Union members — " in page and "and the organisations within it" in page
    assert "Found: 4" in page
    assert "Last name or card number" in page and ">employed<" in page and ">no consent<" in page
    data = [o.name for o in (world.region_a, world.terr_a, world.terr_a2, world.school_a, world.school_a2,
                             world.school_a3, world.college_a)]
    data += [o.short_name for o in (world.region_a, world.terr_a, world.terr_a2, world.school_a, world.school_a2,
                                    world.school_a3, world.college_a) if o.short_name]
    for m in world.members.values():
        data += [m.full_name, m.position]
    data += ["Тестовый пользователь"]
    _assert_english(r, *sorted(data, key=len, reverse=True))
    # The same page stays Russian by default.
    assert "Члены Профсоюза" in client.get(f"/orgs/{org.id}/members?lang=ru").get_data(as_text=True)


def test_english_form_errors_from_wtforms_and_the_card_rules(client, world):
    login(client, "schoolchair")
    client.get("/lang/en")
    data = {"last_name": "", "first_name": "Ирина", "birth_date": "2300-01-01", "gender": "F",
            "category": "working", "position": "учитель", "education": "higher", "dues_form": "cash",
            "joined_on": "2000-09-24"}
    r = client.post(f"/orgs/{world.school_a.id}/members/new", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "The record card was not saved: correct the fields marked in red." in page
    assert "Enter the last name." in page
    assert "The date of birth is in the future." in page
    assert "Укажите фамилию." not in page
    _assert_english(r, world.school_a.name, "Ирина", "учитель", "Тестовый пользователь")


def test_english_flash_after_saving_and_workflow_titles(client, world):
    login(client, "schoolchair")
    client.get("/lang/en")
    member = world.members["a"]
    r = client.get(f"/members/{member.id}/consent")
    page = r.get_data(as_text=True)
    assert "Consent to personal data processing" in page and "no consent" in page
    _assert_english(r, member.full_name, world.school_a.name, "Тестовый пользователь")
    r = client.post(f"/orgs/{world.school_a.id}/card-requests", follow_redirects=True)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Request No. " in page and "draft" in page


def test_error_pages_are_translated(client, world):
    login(client, "schoolchair")
    r = client.get("/orgs/999999?lang=en")
    assert r.status_code == 404
    assert "Page not found." in r.get_data(as_text=True)
    _assert_english(r, "Тестовый пользователь")


def test_every_msgid_has_an_english_translation():
    catalogue = _catalogue()
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 500
    missing = [m.id for m in messages if not m.string or not str(m.string).strip()]
    assert not missing, missing[:20]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not fuzzy, fuzzy[:20]
    # The English side is English: Russian words are kept only verbatim from the msgid (the column names an
    # import file really has, a sample surname), never left untranslated.
    words = re.compile(r"[А-Яа-яЁё]+")
    russian = [m.string for m in messages if set(words.findall(m.string)) - set(words.findall(m.id))]
    assert not russian, russian[:20]
    untranslated = [m.id for m in messages if CYRILLIC.search(m.id) and m.string == m.id]
    assert not untranslated, untranslated[:20]


def test_placeholders_match_between_msgid_and_msgstr():
    for m in _catalogue():
        if not m.id:
            continue
        assert sorted(PLACEHOLDER.findall(m.id)) == sorted(PLACEHOLDER.findall(m.string)), m.id
        assert m.id.count("%") == m.string.count("%"), m.id
        # Links and markup in {% trans %} blocks survive translation.
        assert sorted(re.findall(r"</?\w+", m.id)) == sorted(re.findall(r"</?\w+", m.string)), m.id


def test_the_committed_mo_file_is_compiled_from_the_po_file():
    """messages.mo is committed so a fresh clone runs without a build step; it must say what messages.po says."""
    with open(CATALOGUE / "messages.mo", "rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    source = {m.id: m.string for m in _catalogue() if m.id}
    assert compiled == source, "run: .venv/bin/pybabel compile -d portal/translations"


@pytest.mark.parametrize("path", ["/login"])
def test_russian_pages_do_not_change(client, path):
    page = client.get(path).get_data(as_text=True)
    assert "Логин и пароль выдаёт вышестоящая организация Профсоюза." in page
    assert "English" in page  # the switch offers the other language


def test_english_import_page_explains_a_bad_file(client, world):
    login(client, "schoolchair")
    client.get("/lang/en")
    r = client.post(f"/orgs/{world.school_a.id}/import", data={"file": (io.BytesIO(b""), "list.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "The file is empty. Choose a file with the list of union members." in page
    assert "Import a list of union members" in page


def _world_data(world) -> list[str]:
    """Every piece of registry data the pages of the test world may show (cut out before looking for Russian)."""
    orgs = [world.central, world.region_a, world.region_b, world.terr_a, world.terr_a2, world.terr_b, world.school_a,
            world.school_a2, world.school_a3, world.college_a, world.school_b]
    data = [o.name for o in orgs] + [o.short_name for o in orgs if o.short_name]
    data += [o.address for o in orgs if o.address] + [o.chair_name for o in orgs if o.chair_name]
    data += [o.institution_name for o in orgs if o.institution_name]
    for m in world.members.values():
        data += [m.full_name, m.short_name, m.position, m.last_name, m.first_name, m.patronymic, m.address,
                 m.id_doc_type, m.id_doc_number, m.id_doc_issuer, m.workplace]
    data += ["Тестовый пользователь"]
    return sorted(set(data), key=len, reverse=True)


@pytest.mark.parametrize("user,path", [
    ("schoolchair", "/orgs/{school}"),
    ("schoolchair", "/orgs/{school}/passport"),
    ("schoolchair", "/orgs/{school}/correction"),
    ("schoolchair", "/orgs/{school}/members/new"),
    ("schoolchair", "/members/{member}"),
    ("schoolchair", "/members/{member}/edit"),
    ("schoolchair", "/members/{member}/leave"),
    ("schoolchair", "/members/{member}/transfer"),
    ("schoolchair", "/orgs/{school}/card-requests"),
    ("schoolchair", "/orgs/{school}/import"),
    ("schoolchair", "/search?q=Алексеева"),
    ("schoolchair", "/password"),
    ("regchair", "/orgs/{region}/tree"),
    ("regchair", "/accounts"),
    ("regchair", "/accounts/new"),
    ("regchair", "/corrections"),
    ("central", "/jobs"),
    ("central", "/mail/outbox"),
    ("central", "/card-batches"),
    ("central", "/workflows/card_request"),
    ("central", "/workflows/consent"),
    ("central", "/workflows/card"),
    ("central", "/admin/"),
    ("central", "/admin/organisations/"),
    ("central", "/admin/users/"),
    ("central", "/admin/members/"),
    ("central", "/admin/corrections/"),
])
def test_main_pages_have_no_russian_chrome_in_english(client, world, user, path):
    login(client, user)
    client.get("/lang/en")
    url = path.format(school=world.school_a.id, member=world.members["a"].id, region=world.region_a.id)
    r = client.get(url)
    assert r.status_code == 200, url
    # The import page names the columns a file must have as they are written in it: in Russian.
    columns = ["Фамилия, Имя, Отчество", "Дата вступления в Профсоюз", "Форма уплаты взносов", "Адрес проживания",
               "Дата рождения", "Подразделение", "Образование", "Должность", "Категория", "Телефон", "ФИО", "Пол"]
    _assert_english(r, *_world_data(world), "Алексеева", *(columns if url.endswith("/import") else []))


# ---- material aid -----------------------------------------------------------------------------------------------

AID_PAGES = [
    ("primary_chair", "/aid/petitions"),
    ("primary_chair", "/aid/petitions/{reviewed}"),
    ("primary_chair", "/aid/petitions/new?member_id={member}"),
    ("primary_chair", "/members/{member}"),
    ("regional_staff", "/aid/petitions?state=filed"),
    ("regional_staff", "/aid/petitions/{filed}"),
    ("regional_staff", "/aid/regulation"),
    ("regional_staff", "/aid/regulation/edit"),
    ("regional_chair", "/aid/petitions/{overridden}"),
    ("presidium_member", "/aid/queue"),
    ("presidium_member", "/aid/petitions/{reviewed}"),
    ("accountant", "/aid/payments"),
    ("accountant", "/aid/petitions/{paid}"),
    ("central_admin", "/aid/regulation"),
    ("central_admin", "/workflows/aid_petition"),
]


@pytest.fixture(name="aid_pages")
def aid_pages_fixture(world):
    """Region A's seed regulation and a petition in every state (filed, reviewed, overridden, approved, paid)."""
    from portal.aid import operations as ops
    from portal.extensions import db
    from tests.aid_helpers import aid_fixture, petition_in

    aid = aid_fixture.__wrapped__(world)
    ids = {state: petition_in(aid, state).id for state in ("filed", "reviewed", "approved", "paid")}
    overridden = petition_in(aid, "reviewed")
    ops.act(overridden, "override", aid.users["regional_chair"], params={"amount": "9000", "conditions": "особые"},
            comment="тяжёлое заболевание")
    db.session.commit()
    ids["overridden"] = overridden.id
    return aid, ids


@pytest.mark.parametrize("role,path", AID_PAGES)
def test_aid_pages_have_no_russian_chrome_in_english(client, world, aid_pages, role, path):
    from portal.aid.models import AidPetition, AidRegulation
    from portal.extensions import db

    aid, ids = aid_pages
    member = world.members["a"]
    login(client, aid.users[role])
    client.get("/lang/en")
    r = client.get(path.format(member=member.id, **ids))
    assert r.status_code == 200, path
    # Data stays as entered: names, the sanatorium, the bank, the regulation's title and addressee, typed reasons.
    petitions = db.session.query(AidPetition).all()
    # The petition number (МП-…) is an identifier printed on the Russian form; the payment reference is typed.
    data = [value for p in petitions
            for value in (p.member.full_name, p.sanatorium, p.bank_name, p.number, p.payment_reference) if value]
    for reg in db.session.query(AidRegulation).all():
        data += [reg.title, reg.programme_name, *reg.addressee.splitlines()]
    data += ["тяжёлое заболевание", "особые", "нет документов"]
    _assert_english(r, *sorted(set(data), key=len, reverse=True), *_world_data(world))


BAD_DATE_EN = "A date as DD.MM.YYYY."


def test_aid_problems_and_refusals_are_english(client, world, aid_pages):
    """The rules' problems (a pure function's Russian messages) and the views' refusals show in English."""
    from datetime import timedelta

    from portal.clock import today
    from tests.aid_helpers import BIK, account

    aid, ids = aid_pages
    member = world.members["a"]
    login(client, aid.users["primary_chair"])
    client.get("/lang/en")
    start = today() - timedelta(days=20)
    form = {"member_id": str(member.id), "patient": "family", "sanatorium": "Светлана",
            "treatment_start": start.isoformat(), "treatment_end": (start + timedelta(days=3)).isoformat(),
            "voucher_source": "mod", "payer": "member", "pays_dues": "y",
            "profcom_decision_date": today().isoformat(), "profcom_decision_number": "3",
            "account_number": account(9), "bik": BIK, "bank_name": "ПАО Сбербанк"}
    page = client.post("/aid/petitions/new", data={**form, "do": "check"}).get_data(as_text=True)
    assert "Material aid does not extend to family members (cl. 3.4)." in page
    assert "Length of stay 4 days: at least 10 days are needed (cl. 3.5.1)." in page
    assert "The voucher was obtained through the Ministry of Defence: no aid is granted (cl. 3.5.2)." in page
    quote = client.post("/aid/quote", data=form).get_json()
    assert "Material aid does not extend to family members (cl. 3.4)." in [p["message"] for p in quote["problems"]]
    assert quote["amount_label"] == "Amount under the Regulation: " and quote["blocked_text"].startswith("A petition")
    client.post("/logout")  # still the chair otherwise: a login page does not switch a logged-in session
    login(client, aid.users["presidium_member"])
    client.get("/lang/en")
    r = client.post(f"/aid/petitions/{ids['reviewed']}/approve", data={"decision_date": "31.02.2026",
                                                                         "decision_number": "5"})
    # The form comes back (422) with the field's message in English (issue 9 item 5: no bare 400 page).
    assert r.status_code == 422
    from tests.form_helpers import field_error

    assert field_error(r.get_data(as_text=True), "decision_date") == BAD_DATE_EN
