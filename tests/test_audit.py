"""The audit log: append-only (a trigger on PostgreSQL), complete about denials, and free of passwords, tokens and
full card numbers whatever the code passes to it."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal import audit
from portal.audit import AuditEntry
from portal.cards import operations as card_ops
from portal.cards.models import Card, CardRequest, CardState
from portal.extensions import db
from portal.registry.models import ConsentStatus
from tests.conftest import PASSWORD, login
from tests.security_helpers import fresh_login_per_request  # noqa: F401  (an autouse fixture)

NEW_PASSWORD = "новый-пароль-для-аудита"
NEW_PASSWORD_SHOWN = re.compile(r'data-testid="new-password">([A-Za-z0-9]{12})<')
CARD_RUN = re.compile(r"\d(?:[ \-]?\d){12,18}")


def _all_text() -> str:
    """Every column of every audit row, as one text to search."""
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    return "\n".join(" | ".join(str(getattr(r, c.key)) for c in AuditEntry.__mapper__.column_attrs) for r in rows)


def test_no_password_token_or_card_number_reaches_the_log(make_app, world):
    chair = world.users["primary_chair"]
    # Clients of their own app: each request gets its own database session, as in production.
    client = make_app().test_client()
    secrets = [PASSWORD, NEW_PASSWORD, "typed-into-the-login-field-1", "wrong-guess-2"]
    # A password typed into the login field, a wrong password, a login, a password change.
    client.post("/login", data={"login": secrets[2], "password": PASSWORD})
    client.post("/login", data={"login": chair.login, "password": secrets[3]})
    login(client, chair)
    assert client.post("/password", data={"current": PASSWORD, "new": NEW_PASSWORD,
                                          "repeat": NEW_PASSWORD}).status_code == 302
    secrets.append(client.get_cookie("portal_session").value)
    # A card's whole path: ordered, produced at a cut-off (manifest downloaded), shipped, handed over; then a
    # search by its number and a read of its owner.
    member = world.members["a"]
    member.consent_status = ConsentStatus.SIGNED
    db.session.commit()
    assert client.post(f"/orgs/{world.school_a.id}/card-requests/add",
                       data={"member_ids": [member.id]}).status_code == 302
    req = db.session.scalar(select(CardRequest).where(CardRequest.org_id == world.school_a.id))
    assert client.post(f"/card-requests/{req.id}/submit").status_code == 302
    db.session.expire_all()  # the request was submitted through another app's session
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    batch = card_ops.process_due_requests(cutoff, cutoff.date())
    central = make_app().test_client()
    login(central, world.users["central_admin"])
    assert central.get(f"/card-batches/{batch.id}/manifest.csv").status_code == 200
    assert central.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA123456789RU",
                                                               "on_date": date.today().isoformat()}).status_code == 302
    db.session.expire_all()
    card = db.session.scalar(select(Card).where(Card.member_id == member.id))
    assert card.number and card.state == CardState.SHIPPED
    assert central.post(f"/card-requests/{req.id}/receive",
                        data={"on_date": date.today().isoformat()}).status_code == 302
    assert client.post(f"/cards/{card.id}/hand_over").status_code == 302
    assert client.get("/search", query_string={"q": card.number}).status_code == 200
    assert client.get(f"/members/{world.members['a'].id}").status_code == 200
    # A territorial chair makes an account and resets it: the one-time passwords are shown, never logged.
    boss = make_app().test_client()
    login(boss, world.users["territorial_chair"])
    page = boss.post("/accounts/new", data={"org_id": world.school_a2.id, "role": "primary_chair",
                                            "login": "audit-new-chair", "full_name": "Новикова Нина"})
    created = re.search(NEW_PASSWORD_SHOWN, page.get_data(as_text=True))
    assert created, page.get_data(as_text=True)[:2000]
    from portal.auth.models import User

    new_user = db.session.scalar(select(User).where(User.login == "audit-new-chair"))
    page = boss.post(f"/accounts/{new_user.id}/reset").get_data(as_text=True)
    reset = re.search(NEW_PASSWORD_SHOWN, page)
    assert reset and reset.group(1) != created.group(1)
    secrets += [created.group(1), reset.group(1), boss.get_cookie("portal_session").value]
    # Code that passes secrets on by mistake is scrubbed too.
    audit.record("test_careless", object_type="test", password=PASSWORD, details={"newPassword": NEW_PASSWORD},
                 note=f"card{card.number}x", numbers=[card.number], api_token="tok-" + secrets[-1])
    db.session.commit()

    log = _all_text()
    actions = {e.action for e in db.session.scalars(select(AuditEntry))}
    assert {"login", "password_change", "card_request_submit", "manifest_download", "card_request_ship", "card_request_receive", "card_hand_over", "member_search", "member_read", "account_create",
            "account_reset", "test_careless"} <= actions
    for secret in secrets:
        assert secret not in log
    assert not CARD_RUN.findall(log), CARD_RUN.findall(log)
    assert ("*" * 12 + card.number[-4:]) in log  # the last four digits say which card it was
    # The manifest names the members of the batch; its download names them in the audit (issue 10, item 7).
    manifest = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "manifest_download"))
    assert member.id in json.loads(manifest.details)["ids"]


def test_scrubbing_by_key_and_by_shape():
    details = audit._scrub({"Password2": "a", "user": {"api_token": "b", "nested": [{"otp": "c"}]},
                            "SessionId": "d", "cookie_value": "e", "text": "карта 2202-0000-0000-0017 выдана",
                            "spaced": "2202 0000 0000 0017", "count": 5})
    dumped = json.dumps(details, ensure_ascii=False)
    for secret in ('"a"', '"b"', '"c"', '"d"', '"e"', "2202"):
        assert secret not in dumped
    assert details["count"] == 5 and details["text"] == "карта ************0017 выдана"
    # Short numbers (ids, years, phone tails) are kept.
    assert audit._scrub("заявка 123456, 2026 год") == "заявка 123456, 2026 год"


def test_a_denial_records_who_what_where_and_the_outcome(client, world):
    chair = world.users["primary_chair"]
    foreign = world.members["b"]
    login(client, chair)
    r = client.get(f"/members/{foreign.id}", environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert r.status_code == 404
    db.session.expire_all()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).one()
    assert (entry.actor_id, entry.actor_login, entry.action) == (chair.id, chair.login, "denied")
    assert (entry.object_type, entry.object_id, entry.address) == ("members", foreign.id, "10.20.30.40")
    assert entry.at is not None and entry.org_id == chair.org_id
    assert foreign.last_name not in entry.details


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="the append-only trigger is PostgreSQL's")
def test_the_database_refuses_to_change_or_delete_audit_rows(app, world):
    entry = audit.record("test_note", object_type="test", org_id=world.school_a.id, marker="kept")
    db.session.commit()
    for statement in ("UPDATE audit_log SET outcome = 'forged' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement), {"id": entry.id})
        db.session.rollback()
    entry = db.session.get(AuditEntry, entry.id)
    entry.details = "rewritten"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(AuditEntry, entry.id).details == json.dumps({"marker": "kept"})
