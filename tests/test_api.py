"""The JSON API v1: bearer tokens (expiring, revocable), the same rules and 404s as the pages, JSON errors in
Russian, and an OpenAPI 3 document generated from the code that lists every /api/v1 route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.cabinet.models import MemberAccount, MemberToken
from portal.extensions import db
from portal.registry.models import ConsentStatus
from tests.cabinet_helpers import MEMBER_PASSWORD, card_holder, member_login, register
from tests.conftest import login
from tests.security_helpers import fresh_login_per_request  # noqa: F401  (autouse)


@pytest.fixture
def app(make_app):
    a = make_app(CABINET_PAD_SECONDS=0, SERVER_NAME="portal.test", WTF_CSRF_ENABLED=True)
    with a.app_context():
        yield a
        db.session.remove()


def _register(app, m, **kw):
    """Register through the pages with CSRF off (the API app keeps CSRF on, as production does)."""
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        return register(app.test_client(), m, **kw)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def holder(world, app):
    m = card_holder(world.school_a, last_name="Сергеева", first_name="Ольга")
    _register(app, m)
    return m


def _token(client, m, password=MEMBER_PASSWORD):
    r = client.post("/api/v1/token", json={"card_number": m.card_number, "password": password, "device": "Тест"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["token"]


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_token_login_card_me_consent_petitions(client, holder):
    token = _token(client, holder)  # no CSRF token needed: the API is bearer-authenticated
    card = client.get("/api/v1/card", headers=_auth(token)).get_json()
    assert card["card_number"] == holder.card_number and card["valid"] is True
    assert "/verify/" in card["verify_url"] and holder.card_number not in card["verify_url"]
    me = client.get("/api/v1/me", headers=_auth(token)).get_json()
    assert me["member"]["last_name"] == "Сергеева"
    assert client.get("/api/v1/consent", headers=_auth(token)).get_json()["status"] == "signed"
    assert client.get("/api/v1/petitions", headers=_auth(token)).get_json() == []
    stored = db.session.scalar(select(MemberToken).where(MemberToken.kind == "api"))
    assert stored.token_hash != token and token not in stored.token_hash


@pytest.mark.parametrize("path", ["/api/v1/card", "/api/v1/me", "/api/v1/consent", "/api/v1/petitions"])
def test_without_a_token_401_json_in_russian(client, path, holder):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = client.get(path, headers=headers)
        assert r.status_code == 401 and r.is_json
        assert "токен" in r.get_json()["error"]["message"]


def test_a_session_cookie_never_authenticates_the_api(app, holder, world):
    c = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    member_login(c, holder)
    app.config["WTF_CSRF_ENABLED"] = True
    assert c.get("/api/v1/card").status_code == 401
    staff = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    login(staff, world.users["central_admin"])
    app.config["WTF_CSRF_ENABLED"] = True
    assert staff.get("/api/v1/me").status_code == 401


def test_wrong_password_and_unknown_card_same_answer(client, holder, world):
    other = card_holder(world.school_a2)
    a = client.post("/api/v1/token", json={"card_number": holder.card_number, "password": "wrong-one"})
    b = client.post("/api/v1/token", json={"card_number": other.card_number, "password": "wrong-one"})
    assert a.status_code == b.status_code == 401 and a.get_json() == b.get_json()
    assert "Неверный номер билета или пароль" in a.get_json()["error"]["message"]


def test_bad_bodies_are_json_errors(client, holder):
    r = client.post("/api/v1/token", data="card=1")
    assert r.status_code == 415 and r.is_json and r.get_json()["error"]["message"]
    r = client.post("/api/v1/token", json={"card_number": 5})
    assert r.status_code == 400 and "номер билета" in r.get_json()["error"]["message"]
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.is_json and r.get_json()["error"]["message"] == "Не найдено."
    r = client.get("/api/v1/token")
    assert r.status_code == 405 and r.is_json


def test_api_login_is_throttled(make_app, world):
    app = make_app(LOGIN_FREE_ATTEMPTS=2, SERVER_NAME="portal.test")
    with app.app_context():
        m = card_holder(world.school_a)
        register(app.test_client(), m)
        c = app.test_client()
        for _ in range(2):
            c.post("/api/v1/token", json={"card_number": m.card_number, "password": "nope"})
        r = c.post("/api/v1/token", json={"card_number": m.card_number, "password": MEMBER_PASSWORD})
        assert r.status_code == 429 and r.get_json()["error"]["retry_after"] > 0


def test_tokens_expire_and_are_revocable(app, client, holder):
    token = _token(client, holder)
    assert client.delete("/api/v1/token", headers=_auth(token)).status_code == 204
    assert client.get("/api/v1/card", headers=_auth(token)).status_code == 401
    token = _token(client, holder)
    db.session.execute(update(MemberToken).where(MemberToken.kind == "api")
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/card", headers=_auth(token)).status_code == 401
    # revoked from the cabinet
    token = _token(client, holder)
    page = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    member_login(page, holder)
    row = db.session.scalar(select(MemberToken).where(MemberToken.kind == "api").order_by(MemberToken.id.desc()))
    assert "Тест" in page.get("/cabinet/tokens").get_data(as_text=True)
    assert page.post(f"/cabinet/tokens/{row.id}/revoke").status_code == 302
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.get("/api/v1/card", headers=_auth(token)).status_code == 401


def test_another_members_token_id_is_404_in_the_cabinet(app, holder, world):
    other = card_holder(world.school_a2)
    _register(app, other, email="o@example.org")
    c = app.test_client()
    _token(c, other)
    foreign = db.session.scalar(select(MemberToken).where(MemberToken.kind == "api"))
    app.config["WTF_CSRF_ENABLED"] = False
    page = app.test_client()
    member_login(page, holder)
    assert page.post(f"/cabinet/tokens/{foreign.id}/revoke").status_code == 404
    assert page.post("/cabinet/tokens/999999/revoke").status_code == 404


def test_withdrawal_through_the_api_closes_everything(client, holder):
    token = _token(client, holder)
    r = client.post("/api/v1/consent/withdraw", headers=_auth(token), json={})
    assert r.status_code == 400 and "confirm" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/consent/withdraw", headers=_auth(token), json={"confirm": True})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(type(holder), holder.id).consent_status == ConsentStatus.WITHDRAWN
    assert client.get("/api/v1/card", headers=_auth(token)).status_code == 401
    r = client.post("/api/v1/token", json={"card_number": holder.card_number, "password": MEMBER_PASSWORD})
    assert r.status_code == 403 and "закрыт" in r.get_json()["error"]["message"]
    assert db.session.scalar(select(MemberAccount.closed_reason)) == "consent_withdrawn"


def test_openapi_document_is_valid_and_lists_every_route(app, client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        assert rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (rule.rule, method) in documented, f"{method} {rule.rule} is missing from openapi.json"
