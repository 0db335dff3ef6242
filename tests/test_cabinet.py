"""The member's side: registration by card, login and its throttling, reset links, the card and its verification,
my data (who read it, consent withdrawal), family, and the wall between members and staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.cabinet.models import FamilyMember, MemberAccount, MemberToken, member_hasher
from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.flows import WorkflowHistory
from portal.mail.models import OutboxMessage
from portal.registry.models import CardStatus, ConsentStatus, MemberStatus
from tests.aid_helpers import aid_fixture  # noqa: F401  (fixture)
from tests.cabinet_helpers import MEMBER_PASSWORD, card_holder, identity, last_mail, link_in, member_login, register
from tests.conftest import login
from tests.security_helpers import fresh_login_per_request  # noqa: F401  (autouse)


@pytest.fixture
def app(make_app):
    a = make_app(CABINET_PAD_SECONDS=0, SERVER_NAME="portal.test")
    with a.app_context():
        yield a
        db.session.remove()


@pytest.fixture
def holder(world):
    return card_holder(world.school_a, last_name="Ёлкина", first_name="Анна", patronymic="Сергеевна")


REFUSAL = "Вы не найдены среди членов Профсоюза"


# ---- registration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [
    {"last_name": "ЕЛКИНА"}, {"first_name": "  анна "}, {"patronymic": "Сергеевна  "}, {"last_name": "Ёлкина"},
], ids=["upper-e-for-yo", "spaces-case", "trailing", "exact"])
def test_name_forms_that_are_forgiven(client, holder, changes):
    r = client.post("/cabinet/register", data=identity(holder, **changes))
    assert r.status_code == 302 and r.location.endswith("/cabinet/register/account")


def _refusal(client, data):
    r = client.post("/cabinet/register", data=data)
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert REFUSAL in text and "председател" in text
    return text[text.index('data-testid="refusal"'):text.index("</div>", text.index('data-testid="refusal"'))]


@pytest.mark.parametrize("case", ["abbreviated", "other-name", "not-issued", "no-consent", "printed-only",
                                  "withdrawn", "left", "excluded", "wrong-card", "blocked"])
def test_registration_refusals_say_one_thing(client, world, holder, case):
    """Every refusal is the same text: nothing tells which fact was wrong."""
    data = identity(holder)
    if case == "abbreviated":
        data["first_name"] = "А."
    elif case == "other-name":
        data["last_name"] = "Иванова"
    elif case == "wrong-card":
        data["card_number"] = holder.card_number[:-1] + str((int(holder.card_number[-1]) + 1) % 10)
    else:
        field, value = {"not-issued": ("card_status", CardStatus.SHIPPED),
                        "no-consent": ("consent_status", ConsentStatus.NONE),
                        "printed-only": ("consent_status", ConsentStatus.PRINTED),
                        "withdrawn": ("consent_status", ConsentStatus.WITHDRAWN),
                        "left": ("status", MemberStatus.LEFT),
                        "excluded": ("status", MemberStatus.EXCLUDED),
                        "blocked": ("card_status", CardStatus.BLOCKED)}[case]
        setattr(holder, field, value)
        db.session.commit()
    refusal = _refusal(client, data)
    # the same words whatever was wrong
    other = card_holder(world.school_a2)
    assert _refusal(client, identity(other, first_name="Никто")) == refusal
    assert db.session.scalar(select(MemberAccount.id)) is None


def test_transferred_consent_may_register(client, holder):
    holder.consent_status = ConsentStatus.TRANSFERRED
    db.session.commit()
    assert client.post("/cabinet/register", data=identity(holder)).status_code == 302


def test_bad_card_number_comes_back_filled_in(client, holder):
    r = client.post("/cabinet/register", data=identity(holder, card_number="12345"))
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "16 цифр" in text and holder.last_name in text


def test_full_registration_confirmation_and_login(client, holder):
    r = client.post("/cabinet/register", data=identity(holder))
    page = client.get("/cabinet/register/account").get_data(as_text=True)
    assert "Анна" in page
    # mismatched passwords and no rules: back filled in, nothing created
    r = client.post("/cabinet/register/account", data={"email": "anna@example.org", "phone": "8 (900) 111-22-33",
                                                        "password": "one-password", "repeat": "another-one"})
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "Пароли не совпадают" in text and "примите правила" in text
    assert "anna@example.org" in text
    r = client.post("/cabinet/register/account", data={"email": "anna@example.org", "phone": "8 (900) 111-22-33",
                                                        "password": MEMBER_PASSWORD, "repeat": MEMBER_PASSWORD,
                                                        "rules": "y"})
    assert r.status_code == 302
    account = db.session.scalar(select(MemberAccount))
    assert account.phone == "+79001112233" and account.rules_accepted_at and account.email_confirmed_at is None
    assert account.password_hash.startswith("$argon2id$")
    # tokens are stored hashed: the link's token is nowhere in the table
    mail = last_mail("member_confirm")
    token = link_in(mail.body).rsplit("/", 1)[1]
    assert not db.session.scalar(select(MemberToken.id).where(MemberToken.token_hash == token))
    sms = last_mail("sms")
    assert sms.to_addr == "sms:+79001112233" and sms.status == "stored" and "код" in sms.body
    # login before confirming: told to confirm
    r = client.post("/cabinet/login", data={"card_number": holder.card_number, "password": MEMBER_PASSWORD})
    assert "Подтвердите адрес" in r.get_data(as_text=True)
    assert client.get(link_in(mail.body)).status_code == 302
    assert client.get(link_in(mail.body)).status_code == 404  # single use
    assert last_mail("member_welcome").to_addr == "anna@example.org"
    # the card number may be typed with spaces
    spaced = " ".join(holder.card_number[i:i + 4] for i in range(0, 16, 4))
    r = client.post("/cabinet/login", data={"card_number": spaced, "password": MEMBER_PASSWORD})
    assert r.status_code == 302 and r.location.endswith("/cabinet/")
    assert "Ёлкина Анна Сергеевна" in client.get("/cabinet/card").get_data(as_text=True)


def test_duplicate_registration_is_told_to_log_in_or_reset(client, holder):
    register(client, holder)
    other = client.application.test_client()
    r = other.post("/cabinet/register", data=identity(holder))
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "уже зарегистрированы" in text and "/cabinet/reset" in text
    assert db.session.scalar(select(db.func.count(MemberAccount.id))) == 1


def test_phone_code(client, holder):
    account = register(client, holder, phone="+7 900 555-44-33")
    member_login(client, holder)
    code = last_mail("sms").body.rsplit(" ", 1)[1]
    wrong = "000000" if code != "000000" else "111111"
    r = client.post("/cabinet/phone", data={"code": wrong})
    assert "Код неверный" in r.get_data(as_text=True)
    assert client.post("/cabinet/phone", data={"code": code}).status_code == 302
    db.session.expire_all()
    assert db.session.get(MemberAccount, account.id).phone_confirmed_at is not None


def test_changing_email_and_phone_needs_the_password_and_a_link_to_the_new_address(client, holder):
    account = register(client, holder, email="old@example.org", phone="")
    member_login(client, holder)
    assert 'data-testid="change-contacts"' in client.get("/cabinet/data").get_data(as_text=True)
    form = {"email": "new@example.org", "phone": "8 (901) 222-33-44", "current": "not-my-password"}
    r = client.post("/cabinet/contacts", data=form)
    assert r.status_code == 422 and "Неверный пароль." in r.get_data(as_text=True)
    assert 'value="new@example.org"' in r.get_data(as_text=True)  # the form comes back filled in
    db.session.expire_all()
    assert (account.email, account.phone) == ("old@example.org", "")
    r = client.post("/cabinet/contacts", data={**form, "current": MEMBER_PASSWORD})
    assert r.status_code == 302 and r.location.endswith("/cabinet/phone")  # the new phone's SMS code
    db.session.expire_all()
    account = db.session.get(MemberAccount, account.id)
    assert account.phone == "+79012223344" and account.phone_confirmed_at is None
    assert last_mail("sms").to_addr == "sms:+79012223344"
    # the email waits for its link; the old address is told, without the new one spelled out
    assert account.email == "old@example.org"
    notice = last_mail("member_email_notice", "old@example.org")
    assert "n***@example.org" in notice.body and "new@example.org" not in notice.body
    assert "new@example.org" in client.get("/cabinet/contacts").get_data(as_text=True)
    # my data (the page's JSON copy and the API's /me share ops.my_data) shows the address waiting
    assert client.get("/cabinet/data.json").get_json(force=True)["account"]["email_pending"] == "new@example.org"
    link = link_in(last_mail("member_email_change", "new@example.org").body)
    assert client.get(link).status_code == 302
    db.session.expire_all()
    account = db.session.get(MemberAccount, account.id)
    assert account.email == "new@example.org" and account.email_confirmed_at is not None
    assert client.get(link).status_code == 404  # single use
    assert client.get("/cabinet/data.json").get_json(force=True)["account"]["email"] == "new@example.org"


def test_contacts_form_errors_are_russian_at_the_field_and_the_password_is_throttled(make_app, world):
    app = make_app(CABINET_PAD_SECONDS=0, LOGIN_FREE_ATTEMPTS=3)
    with app.app_context():
        m = card_holder(world.school_a)
        c = app.test_client()
        register(c, m)
        member_login(c, m)
        r = c.post("/cabinet/contacts", data={"email": "not-an-address", "phone": "12", "current": ""})
        text = r.get_data(as_text=True)
        assert r.status_code == 422 and "Неверный адрес e-mail." in text and "Телефон — 10 цифр" in text
        assert "Введите текущий пароль" in text and 'value="not-an-address"' in text
        for _ in range(3):
            c.post("/cabinet/contacts", data={"email": "x@example.org", "current": "wrong-wrong"})
        r = c.post("/cabinet/contacts", data={"email": "x@example.org", "current": MEMBER_PASSWORD})
        assert r.status_code == 429 and "Повторите через" in r.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.scalar(select(MemberAccount.email).where(MemberAccount.member_id == m.id)) != \
            "x@example.org"


# ---- login, throttling, reset ---------------------------------------------------------------------------------


def test_unknown_card_and_wrong_password_answer_the_same(client, holder, world):
    register(client, holder)
    client.get("/cabinet/login")  # the flashed "confirmed" message is shown once
    wrong = client.post("/cabinet/login", data={"card_number": holder.card_number, "password": "wrong-password"})
    other = card_holder(world.school_a2)  # a card without an account
    unknown = client.post("/cabinet/login", data={"card_number": other.card_number, "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.get_data() == unknown.get_data().replace(other.card_number.encode(), holder.card_number.encode())


def test_login_is_throttled_per_card_and_per_address(make_app, world):
    app = make_app(CABINET_PAD_SECONDS=0, LOGIN_FREE_ATTEMPTS=3)
    with app.app_context():
        m = card_holder(world.school_a)
        c = app.test_client()
        register(c, m)
        c.post("/cabinet/logout")
        for _ in range(3):
            c.post("/cabinet/login", data={"card_number": m.card_number, "password": "nope-nope"})
        # blocked for this card from the address that failed, even with the right password
        r = c.post("/cabinet/login", data={"card_number": m.card_number, "password": MEMBER_PASSWORD})
        assert r.status_code == 429 and "Повторите через" in r.get_data(as_text=True)
        # this address is blocked for other cards as well
        r = c.post("/cabinet/login", data={"card_number": "2202000000000000", "password": "x"})
        assert r.status_code == 429
        # but the owner elsewhere is not locked out by someone guessing (the staff logins' rule, issue 10 item 5)
        other = app.test_client()
        r = other.post("/cabinet/login", data={"card_number": m.card_number, "password": MEMBER_PASSWORD},
                       environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert r.status_code == 302


def test_registration_is_throttled(make_app, world):
    app = make_app(CABINET_PAD_SECONDS=0, LOGIN_FREE_ATTEMPTS=3)
    with app.app_context():
        m = card_holder(world.school_a)
        c = app.test_client()
        for _ in range(3):
            c.post("/cabinet/register", data=identity(m, first_name="Не та"))
        assert c.post("/cabinet/register", data=identity(m)).status_code == 429


def test_reset_link_is_single_use_and_expires(client, holder, world):
    account = register(client, holder)
    client.get("/cabinet/login")  # the flashed "confirmed" message is shown once
    r = client.post("/cabinet/reset", data={"card_number": holder.card_number})
    assert 'data-testid="reset-sent"' in r.get_data(as_text=True)
    # the same answer for a card without an account, and no mail
    count = db.session.scalar(select(db.func.count(OutboxMessage.id)))
    other = card_holder(world.school_a2)
    r2 = client.post("/cabinet/reset", data={"card_number": other.card_number})
    assert r2.get_data(as_text=True).replace(other.card_number, holder.card_number) == r.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(OutboxMessage.id))) == count
    link = link_in(last_mail("member_reset").body)
    assert client.get(link).status_code == 200
    r = client.post(link, data={"password": "brand-new-pass", "repeat": "brand-new-pass"})
    assert r.status_code == 302
    assert client.get(link).status_code == 404
    assert client.post(link, data={"password": "other-new-pass", "repeat": "other-new-pass"}).status_code == 404
    member_login(client, holder, "brand-new-pass")
    # an expired link
    client.post("/cabinet/logout")
    client.post("/cabinet/reset", data={"card_number": holder.card_number})
    link = link_in(last_mail("member_reset").body)
    db.session.execute(update(MemberToken).where(MemberToken.kind == "password_reset", MemberToken.used_at.is_(None))
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(link).status_code == 404
    assert account.id


def test_reset_ends_every_session(make_app, world):
    app = make_app(CABINET_PAD_SECONDS=0)
    with app.app_context():
        m = card_holder(world.school_a)
        phone, laptop = app.test_client(), app.test_client()
        register(phone, m)
        member_login(phone, m)
        member_login(laptop, m)
        laptop.post("/cabinet/logout")  # log out everywhere
        assert phone.get("/cabinet/").status_code == 302


def test_old_hash_is_rehashed_on_login(client, holder):
    from argon2 import PasswordHasher

    account = register(client, holder)
    account.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(MEMBER_PASSWORD)
    db.session.commit()
    member_login(client, holder)
    db.session.expire_all()
    stored = db.session.get(MemberAccount, account.id).password_hash
    assert not member_hasher().check_needs_rehash(stored)


def test_member_hash_meets_owasp_minimum(app):
    from portal.cabinet.models import _MEMBER_HASHERS

    params = _MEMBER_HASHERS["standard"]
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1
    assert params.type.name == "ID"


# ---- the card and verification ---------------------------------------------------------------------------------


def test_card_page_qr_and_verification(client, holder):
    account = register(client, holder)
    member_login(client, holder)
    page = client.get("/cabinet/card").get_data(as_text=True)
    assert holder.card_number in page and "<svg" in page and "Обновлено" in page
    assert holder.card_number not in account.verify_token
    r = client.get(f"/verify/{account.verify_token}")
    text = r.get_data(as_text=True)
    assert "Билет действителен" in text and "Анна Ё." in text
    assert "Ёлкина" not in text and holder.card_number not in text and "Сергеевна" not in text
    assert "no-store" in r.headers["Cache-Control"]
    unknown = client.get("/verify/not-a-token").get_data(as_text=True)
    assert "Билет недействителен" in unknown
    holder.card_status = CardStatus.BLOCKED
    db.session.commit()
    text = client.get(f"/verify/{account.verify_token}").get_data(as_text=True)
    assert "недействителен" in text and "Анна" not in text


def test_verification_misses_are_throttled(make_app, world):
    app = make_app(LOGIN_FREE_ATTEMPTS=3)
    with app.app_context():
        c = app.test_client()
        for i in range(3):
            c.get(f"/verify/guess-{i}")
        assert c.get("/verify/guess-x").status_code == 429


def test_manifest_service_worker_and_icons(client):
    manifest = client.get("/cabinet/manifest.webmanifest").get_json(force=True)
    assert manifest["start_url"] == "/cabinet/card" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        r = client.get(icon["src"])
        assert r.status_code == 200 and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    sw = client.get("/cabinet/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.content_type and sw.headers["Service-Worker-Allowed"]


def test_cabinet_pages_have_no_inline_script_or_style(client, holder):
    import re

    register(client, holder)
    member_login(client, holder)
    for path in ("/cabinet/", "/cabinet/card", "/cabinet/data", "/cabinet/family", "/cabinet/tokens",
                 "/cabinet/consent/withdraw", "/cabinet/phone"):
        text = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+=", text) and ' style="' not in text, path


# ---- my data ---------------------------------------------------------------------------------------------------


def test_my_data_shows_who_read_it_without_names(client, holder, world, make_app):
    staff = world.users["primary_chair"]
    chair = client.application.test_client()
    login(chair, staff)
    assert chair.get(f"/members/{holder.id}").status_code == 200
    register(client, holder)
    member_login(client, holder)
    text = client.get("/cabinet/data").get_data(as_text=True)
    readers = text[text.index('data-testid="readers"'):]
    assert world.school_a.name in readers and "Председатель первичной организации" in readers
    assert staff.full_name not in readers and staff.login not in readers
    assert "Ёлкина Анна Сергеевна" in text and 'data-testid="tenure"' in text
    data = client.get("/cabinet/data.json").get_json(force=True)
    assert data["member"]["last_name"] == "Ёлкина" and data["readers"][0]["role"]


def test_withdrawing_consent_uses_the_workflow_and_closes_the_cabinet(client, holder):
    holder.consent_status = ConsentStatus.TRANSFERRED
    holder.consent_exported = "signed"
    db.session.commit()
    account = register(client, holder)
    member_login(client, holder)
    r = client.post("/cabinet/consent/withdraw", data={})
    assert r.status_code == 200 and "Подтвердите отзыв" in r.get_data(as_text=True)
    r = client.post("/cabinet/consent/withdraw", data={"confirm": "y"})
    assert r.status_code == 302 and r.location.endswith("/cabinet/closed")
    db.session.expire_all()
    member = db.session.get(type(holder), holder.id)
    assert member.consent_status == ConsentStatus.WITHDRAWN
    record = db.session.scalars(select(ConsentRecord).where(ConsentRecord.member_id == holder.id)).all()[-1]
    assert record.kind == "withdrawn" and record.actor_id is None
    hist = db.session.scalars(select(WorkflowHistory).where(WorkflowHistory.object_id == holder.id)).all()[-1]
    assert hist.action == "withdraw" and hist.actor_login == f"member:{account.id}" and hist.actor_id is None
    # the daily transfer tells the programme
    from portal.consent.operations import pending_delta

    assert holder.id in [m.id for m in db.session.scalars(pending_delta())]
    assert db.session.get(MemberAccount, account.id).closed_at is not None
    assert client.get("/cabinet/").status_code == 302
    r = client.post("/cabinet/login", data={"card_number": holder.card_number, "password": MEMBER_PASSWORD})
    assert "Личный кабинет закрыт" in r.get_data(as_text=True)
    assert last_mail("member_withdrawn")


def test_petitions_and_family(client, holder, aid):
    from tests.aid_helpers import file

    petition = file(aid, holder)
    register(client, holder)
    member_login(client, holder)
    r = client.post("/cabinet/family", data={"full_name": "Ёлкин Пётр Иванович", "relation": "child"})
    assert r.status_code == 302
    r = client.post("/cabinet/family", data={"full_name": "", "relation": "nobody"})
    assert r.status_code == 200 and "Укажите фамилию" in r.get_data(as_text=True)
    assert "Ёлкин Пётр Иванович" in client.get("/cabinet/card").get_data(as_text=True)
    text = client.get("/cabinet/data").get_data(as_text=True)
    assert f"№ {petition.id}" in text and "подано" in text


def test_cached_layout_keeps_each_members_token_language_and_active_tab(make_app, world):
    """The cabinet's layout is cached in fragments (portal/fragments.py): what is cached is the same for everyone,
    while each member's CSRF token, the language and the active tab still come out right on every page."""
    from tests.security_helpers import csrf_token

    app = make_app(WTF_CSRF_ENABLED=True, CABINET_PAD_SECONDS=0)
    with app.app_context():
        holders = [identity(card_holder(world.school_a, first_name=name)) for name in ("Ирина", "Ольга")]
    tokens, clients = [], []
    for i, h in enumerate(holders):  # no app context kept pushed: each request has its own `g`, as in production
        c = app.test_client()
        c.post("/cabinet/register", data={**h, "csrf_token": csrf_token(
            c.get("/cabinet/register").get_data(as_text=True))})
        page = c.get("/cabinet/register/account").get_data(as_text=True)
        email = f"m{i}@example.org"
        c.post("/cabinet/register/account", data={"email": email, "phone": "", "password": MEMBER_PASSWORD,
                                                  "repeat": MEMBER_PASSWORD, "rules": "y",
                                                  "csrf_token": csrf_token(page)})
        with app.app_context():
            link = link_in(last_mail("member_confirm", email).body)
        c.get(link)
        page = c.get("/cabinet/login").get_data(as_text=True)
        r = c.post("/cabinet/login", data={"card_number": h["card_number"], "password": MEMBER_PASSWORD,
                                           "csrf_token": csrf_token(page)})
        assert r.status_code == 302
        card = c.get("/cabinet/card").get_data(as_text=True)
        assert '<a class="nav-link active" href="/cabinet/card">' in card
        assert '<a class="nav-link" href="/cabinet/card">' in c.get("/cabinet/").get_data(as_text=True)
        token = csrf_token(card)
        tokens.append(token)
        english = c.get("/cabinet/card?lang=en").get_data(as_text=True)
        assert 'lang="en"' in english and "Выйти" not in english
        assert "Выйти" in c.get("/cabinet/card?lang=ru").get_data(as_text=True)
        clients.append(c)
    # each page's token is its own session's (a signed token carries a timestamp: compared by use, not by text)
    r = clients[0].post("/cabinet/logout", data={"csrf_token": tokens[1]})
    assert r.status_code == 400
    for c, token in zip(clients, tokens, strict=True):
        r = c.post("/cabinet/logout", data={"csrf_token": token})
        assert r.status_code == 302 and "/cabinet/login" in r.location


# ---- members and staff never cross --------------------------------------------------------------------------------


def test_a_member_never_reaches_staff_pages_nor_another_member(client, holder, world):
    register(client, holder)
    member_login(client, holder)
    for path in (f"/orgs/{world.school_a.id}", f"/members/{holder.id}", f"/members/{world.members['a'].id}", "/",
                 "/admin/", "/accounts", "/aid/", "/mail/outbox", "/password", "/login"):
        assert client.get(path).status_code == 404, path
    assert client.post("/logout").status_code == 404  # the staff logout never touches a staff account
    # another member's family row and API token
    other = card_holder(world.school_a2)
    other_client = client.application.test_client()
    other_account = register(other_client, other, email="other@example.org")
    row = FamilyMember(account_id=other_account.id, full_name="Чужой Родственник", relation="child")
    db.session.add(row)
    db.session.commit()
    assert client.post(f"/cabinet/family/{row.id}/delete").status_code == 404
    assert db.session.get(FamilyMember, row.id) is not None


def test_staff_never_opens_the_cabinet(client, world, holder):
    login(client, world.users["central_admin"])
    for path in ("/cabinet/", "/cabinet/card", "/cabinet/data", "/cabinet/login", "/cabinet/register"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/orgs/{world.central.id}").status_code == 200


def test_anonymous_cabinet_pages_go_to_the_member_login(client):
    r = client.get("/cabinet/card")
    assert r.status_code == 302 and "/cabinet/login" in r.location


# ---- the staff side ------------------------------------------------------------------------------------------------


def test_chair_sees_who_has_a_cabinet_and_prints_the_instruction(client, holder, world):
    from tests.document_helpers import flat, pdf_pages

    card_holder(world.school_a, last_name="Ждущева", first_name="Вера", patronymic="Ивановна")
    register(client, holder)
    chair = client.application.test_client()
    login(chair, world.users["primary_chair"])
    page = chair.get(f"/orgs/{world.school_a.id}/members").get_data(as_text=True)
    row = page[page.index("Ёлкина"):]
    assert 'data-cabinet="yes"' in row[:row.index("</tr>")]
    row = page[page.index("Ждущева"):]
    assert 'data-cabinet="no"' in row[:row.index("</tr>")]
    org_page = chair.get(f"/orgs/{world.school_a.id}").get_data(as_text=True)
    assert 'data-step="cabinets" data-done="no"' in org_page and "зарегистрировались 1 из 2" in org_page
    r = chair.get(f"/orgs/{world.school_a.id}/cabinet-instruction.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pages = [flat(p) for p in pdf_pages(r.data)]
    assert len(pages) == 2  # one page per card holder, in name order
    assert "Ёлкина Анна Сергеевна" in pages[0] and "Ждущева Вера Ивановна" in pages[1]  # ё sorts as е
    grouped = " ".join(holder.card_number[i:i + 4] for i in range(0, 16, 4))
    assert grouped in pages[0] and "/cabinet/register" in pages[0] and "Пароль никому не сообщайте" in pages[0]
    assert "Как войти в личный кабинет" in pages[0] and "8 (800) 250-74-46" in pages[0]
    # an organisation above: one page with blanks; another region's organisation: 404
    r = client.application.test_client()
    login(r, world.users["territorial_chair"])
    pages = pdf_pages(r.get(f"/orgs/{world.terr_a.id}/cabinet-instruction.pdf").data)
    assert len(pages) == 1 and "____ ____ ____ ____" in flat(pages[0])
    assert chair.get(f"/orgs/{world.school_b.id}/cabinet-instruction.pdf").status_code == 404


def test_an_idle_member_session_ends_at_the_member_login(client, holder):
    register(client, holder)
    member_login(client, holder)
    with client.session_transaction() as s:
        s["seen"] = s["seen"] - 31 * 60
    r = client.get("/cabinet/card")
    assert r.status_code == 302 and r.location.endswith("/cabinet/login")
    assert client.get("/cabinet/card").status_code == 302


def test_english_cabinet_keeps_russian_msgids_translatable(client, holder):
    """The cabinet's pages are marked for translation: ?lang=en changes the shared chrome at least (the English
    texts of the cabinet arrive with portal/translations/fragments/cabinet.po at merge)."""
    r = client.get("/cabinet/login?lang=en")
    assert r.status_code == 200 and 'lang="en"' in r.get_data(as_text=True)
