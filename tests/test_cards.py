"""Card requests and cards over HTTP (SPEC §5): draft → submitted → processed (1st/15th) → shipped → issued."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.cards import operations as ops
from portal.cards.models import Card, CardRequest, CardState, ProductionBatch, RequestState
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus
from tests.conftest import create_member, login
from tests.form_helpers import field_error, field_value, is_required
from workflows import CARD_REQUEST, history


def consenting(org, n=2):
    out = []
    for _ in range(n):
        m = create_member(org)
        m.consent_status = ConsentStatus.SIGNED
        out.append(m)
    db.session.commit()
    return out


def _draft_with(client, org, members):
    r = client.post(f"/orgs/{org.id}/card-requests/add", data={"member_ids": [m.id for m in members]})
    assert r.status_code == 302
    return db.session.scalar(select(CardRequest).where(CardRequest.org_id == org.id).order_by(CardRequest.id.desc()))


def _process(now=None) -> ProductionBatch:
    cutoff = now or datetime.now(UTC) + timedelta(seconds=1)
    return ops.process_due_requests(cutoff, cutoff.date())


@pytest.mark.parametrize("body,digit", [("220200000000001", "0"), ("7992739871", "3"), ("411111111111111", "1")])
def test_luhn(body, digit):
    assert ops.luhn_digit(body) == digit and ops.luhn_valid(body + digit)
    assert not ops.luhn_valid(body + str((int(digit) + 1) % 10))
    assert ops.card_number(1) == "2202" + "0" * 10 + "1" + ops.luhn_digit("2202" + "0" * 10 + "1")


def test_only_consenting_members_without_a_card_go_into_a_draft(client, world):
    login(client, world.users["primary_chair"])
    ok = consenting(world.school_a, 1)[0]
    no_consent = world.members["a"]
    has_card = consenting(world.school_a, 1)[0]
    has_card.card_status = CardStatus.ISSUED
    db.session.commit()
    req = _draft_with(client, world.school_a, [ok, no_consent, has_card])
    assert [i.member_id for i in req.items] == [ok.id]
    page = client.get(f"/card-requests/{req.id}").get_data(as_text=True)
    assert "нет подписанного согласия" in page or "Не добавлены" in page


def test_full_path_to_issued(client, world, make_app, app):
    world.school_a.chair_email = "chair17@example.ru"
    db.session.commit()
    login(client, world.users["primary_chair"])
    members = consenting(world.school_a, 3)
    req = _draft_with(client, world.school_a, members)
    assert client.post(f"/card-requests/{req.id}/submit").status_code == 302
    db.session.refresh(req)
    assert req.state == RequestState.SUBMITTED and req.submitted_at is not None
    assert all(m.card_status == CardStatus.ORDERED for m in members)
    # Nothing can be added after submission.
    extra = consenting(world.school_a, 1)[0]
    assert client.post(f"/card-requests/{req.id}/items", data={"member_ids": [extra.id]}).status_code == 409

    batch = _process()
    db.session.refresh(req)
    assert req.state == RequestState.PROCESSED and req.batch_id == batch.id
    numbers = [i.card.number for i in req.items]
    assert len(set(numbers)) == 3 and all(ops.luhn_valid(n) and len(n) == 16 for n in numbers)
    # The manifest for the producer lists every card.
    folder = Path(app.config["UPLOAD_DIR"]) / ops.MANIFEST_AREA
    rows = list(load_workbook(folder / batch.manifest_xlsx).active.iter_rows(values_only=True))
    assert rows[0][1] == "Номер карты" and sorted(r[1] for r in rows[1:]) == sorted(numbers)
    csv_rows = list(csv.reader(io.StringIO((folder / batch.manifest_csv).read_text("utf-8-sig")), delimiter=";"))
    assert len(csv_rows) == 4

    regional = make_app().test_client()
    login(regional, world.users["regional_staff"])
    # The primary chair may not mark the shipment; the regional office may, with a tracking number.
    assert client.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA123", "on_date":
                                                               date.today().isoformat()}).status_code == 409
    r = regional.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "", "on_date": date.today().isoformat()})
    # A missing tracking number: the page again (422) with the date as typed and the message by the field.
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(page, "tracking_number") == "Обязательное поле."
    assert field_value(page, "on_date") == date.today().isoformat() and is_required(page, "tracking_number")
    r = regional.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA123456789RU",
                                                             "on_date": date.today().isoformat()})
    assert r.status_code == 302
    db.session.refresh(req)
    assert req.state == RequestState.SHIPPED and req.tracking_number == "RA123456789RU"
    cards = [i.card for i in req.items]
    assert all(c.state == CardState.SHIPPED for c in cards)
    # Issue 9 item 10: nothing is handed over while the cards are in the post; only the regional office records
    # that the shipment arrived («получены»), and that makes every card of the request «получен».
    r = client.post(f"/cards/{cards[0].id}/hand_over")
    assert r.status_code == 409 and "невозможно в состоянии «отправлен»" in r.get_data(as_text=True)
    assert client.post(f"/card-requests/{req.id}/receive", data={"on_date": date.today().isoformat()}).status_code == 409
    r = regional.post(f"/card-requests/{req.id}/receive", data={"on_date": ""})
    assert r.status_code == 422 and "ДД.ММ.ГГГГ" in field_error(r.get_data(as_text=True), "on_date")
    assert regional.post(f"/card-requests/{req.id}/receive",
                         data={"on_date": date.today().isoformat()}).status_code == 302
    db.session.refresh(req)
    assert req.state == RequestState.RECEIVED and req.received_on == date.today()
    for c in cards:
        db.session.refresh(c)
    assert all(c.state == CardState.RECEIVED for c in cards)
    # The chair hands cards over one by one; the request is issued with the last one.
    for i, card in enumerate(cards):
        assert client.post(f"/cards/{card.id}/hand_over").status_code == 302
        db.session.refresh(req)
        assert req.state == (RequestState.ISSUED if i == 2 else RequestState.RECEIVED)
    for m in members:
        db.session.refresh(m)
        assert m.card_status == CardStatus.ISSUED and m.card_number
    assert [h.action for h in history(CARD_REQUEST, req)] == ["submit", "process", "ship", "receive", "issue"]
    # The chair was told by email, through the outbox, of processing and of shipping.
    from portal.mail.models import OutboxMessage

    mails = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.to_addr, m.kind) for m in mails] == [("chair17@example.ru", "card_request_processed"),
                                                    ("chair17@example.ru", "card_request_shipped"),
                                                    ("chair17@example.ru", "card_request_received")]
    assert "RA123456789RU" in mails[1].body


@pytest.mark.parametrize("action", ["process", "issue", "ship"])
def test_transitions_not_allowed_in_draft_are_409(client, world, action):
    login(client, world.users["primary_chair"])
    req = _draft_with(client, world.school_a, consenting(world.school_a, 1))
    r = client.post(f"/card-requests/{req.id}/{action}", data={"tracking_number": "X", "on_date":
                                                               date.today().isoformat()})
    assert r.status_code == 409
    db.session.refresh(req)
    assert req.state == RequestState.DRAFT and history(CARD_REQUEST, req) == []


def test_empty_request_cannot_be_submitted(client, world):
    login(client, world.users["primary_chair"])
    r = client.post(f"/orgs/{world.school_a.id}/card-requests")
    req = db.session.scalar(select(CardRequest))
    r = client.post(f"/card-requests/{req.id}/submit")
    assert r.status_code == 409 and "нет ни одного" in r.get_data(as_text=True)


def test_cancel_releases_members(client, world):
    login(client, world.users["primary_chair"])
    members = consenting(world.school_a, 2)
    req = _draft_with(client, world.school_a, members)
    client.post(f"/card-requests/{req.id}/submit")
    assert client.post(f"/card-requests/{req.id}/cancel").status_code == 302
    for m in members:
        db.session.refresh(m)
        assert m.card_status == CardStatus.NOT_ORDERED
    again = _draft_with(client, world.school_a, members)
    assert again.id != req.id and len(again.items) == 2


def test_processing_takes_only_requests_submitted_before_the_cutoff_and_runs_once(client, world):
    login(client, world.users["primary_chair"])
    early = _draft_with(client, world.school_a, consenting(world.school_a, 1))
    client.post(f"/card-requests/{early.id}/submit")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    db.session.refresh(early)
    late = _draft_with(client, world.school_a, consenting(world.school_a, 1))
    client.post(f"/card-requests/{late.id}/submit")
    db.session.execute(CardRequest.__table__.update().where(CardRequest.id == late.id)
                       .values(submitted_at=cutoff + timedelta(minutes=5)))
    db.session.commit()
    batch = ops.process_due_requests(cutoff, cutoff.date())
    assert batch.requests == 1
    db.session.refresh(early)
    db.session.refresh(late)
    assert early.state == RequestState.PROCESSED and late.state == RequestState.SUBMITTED
    assert ops.process_due_requests(cutoff, cutoff.date()).id == batch.id  # same cut-off: nothing again
    assert db.session.scalar(select(Card.id).where(Card.request_id == late.id)) is None


def test_overdue_requests_are_listed_for_the_region(client, world, make_app):
    login(client, world.users["primary_chair"])
    req = _draft_with(client, world.school_a, consenting(world.school_a, 1))
    client.post(f"/card-requests/{req.id}/submit")
    _process()
    db.session.refresh(req)
    req.processed_on = date.today() - timedelta(days=15)
    db.session.commit()
    regional = make_app().test_client()
    login(regional, world.users["regional_chair"])
    page = regional.get(f"/orgs/{world.region_a.id}/card-requests?overdue=1").get_data(as_text=True)
    assert f"№ {req.id}" in page and "просрочена отправка" in page
    req.processed_on = date.today() - timedelta(days=14)
    db.session.commit()
    page = regional.get(f"/orgs/{world.region_a.id}/card-requests?overdue=1").get_data(as_text=True)
    assert f"№ {req.id}<" not in page
    other = make_app().test_client()
    login(other, world.users["other_region_chair"])
    assert other.get(f"/card-requests/{req.id}").status_code == 404


def test_lost_card_can_be_reissued_with_a_new_number(client, world):
    login(client, world.users["primary_chair"])
    m = consenting(world.school_a, 1)[0]
    req = _draft_with(client, world.school_a, [m])
    client.post(f"/card-requests/{req.id}/submit")
    _process()
    card = db.session.scalar(select(Card).where(Card.member_id == m.id))
    card.state = CardState.RECEIVED  # shipped and received by the region (tested above)
    db.session.commit()
    client.post(f"/cards/{card.id}/hand_over")
    lost = client.post(f"/cards/{card.id}/lose")  # a reason is required: said on the request page, not a bare 409
    assert lost.status_code == 422 and "причину" in lost.get_data(as_text=True)
    assert client.post(f"/cards/{card.id}/lose", data={"comment": "потерян"}).status_code == 302
    assert client.post(f"/cards/{card.id}/reissue").status_code == 302
    db.session.refresh(m)
    assert m.card_status == CardStatus.REISSUED
    second = _draft_with(client, world.school_a, [m])
    client.post(f"/card-requests/{second.id}/submit")
    _process(datetime.now(UTC) + timedelta(seconds=2))
    new = db.session.scalar(select(Card).where(Card.member_id == m.id, Card.id != card.id))
    assert new.number != card.number and ops.luhn_valid(new.number)


@pytest.mark.postgres
def test_concurrent_allocations_never_share_a_number(make_app, world, database):
    """Two processes' worth of allocations at once (threads with their own connections) on PostgreSQL."""
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker():
        a = make_app()
        with a.app_context():
            barrier.wait()
            for _ in range(20):
                seqs = ops.next_sequence(5)
                db.session.commit()
                with lock:
                    got.extend(seqs)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 400 and len(set(got)) == 400 and sorted(got) == list(range(1, 401))


def test_member_card_copy_pdf(client, world):
    from pypdf import PdfReader

    login(client, world.users["primary_chair"])
    r = client.get(f"/members/{world.members['a'].id}/card-copy.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.data)).pages)
    assert "Алексеева" in text
    assert client.get(f"/members/{world.members['b'].id}/card-copy.pdf").status_code == 404


def test_workflow_diagram_page_and_svg(client, world):
    login(client, world.users["primary_chair"])
    page = client.get("/workflows/card_request").get_data(as_text=True)
    assert "Отправить заявку" in page and "черновик" in page
    svg = client.get("/workflows/card_request.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data and "отправлена".encode() in svg.data
    assert client.get("/workflows/nonsense").status_code == 404


# ---- consent withdrawn while a request waits for the 1st/15th (SPEC §4–§5) ------------------------------------------


def _manifest_rows(app, batch):
    folder = Path(app.config["UPLOAD_DIR"]) / ops.MANIFEST_AREA
    xlsx = list(load_workbook(folder / batch.manifest_xlsx).active.iter_rows(values_only=True))
    csv_rows = list(csv.reader(io.StringIO((folder / batch.manifest_csv).read_text("utf-8-sig")), delimiter=";"))
    return xlsx, csv_rows


def test_member_who_withdrew_after_submission_gets_no_card_and_is_not_in_the_manifest(client, world, app, make_app):
    from portal.mail.models import OutboxMessage

    world.school_a.chair_email = "chair17@example.ru"
    db.session.commit()
    login(client, world.users["primary_chair"])
    stays, withdraws, leaves = consenting(world.school_a, 3)
    withdraws.last_name, leaves.last_name = "Отозвавшая", "Выбывшая"
    db.session.commit()
    req = _draft_with(client, world.school_a, [stays, withdraws, leaves])
    assert client.post(f"/card-requests/{req.id}/submit").status_code == 302
    r = client.post(f"/members/{withdraws.id}/consent/withdraw",
                    data={"on_date": date.today().isoformat(), "reason": "Письменный отзыв"})
    assert r.status_code == 302
    from portal.registry import operations as registry_ops
    from portal.registry.models import EventKind

    registry_ops.end_membership(world.users["primary_chair"], db.session.get(type(leaves), leaves.id), EventKind.LEFT,
                                date.today(), "по заявлению")
    db.session.commit()

    batch = _process()
    db.session.expire_all()
    req = db.session.get(CardRequest, req.id)
    assert req.state == RequestState.PROCESSED
    by_member = {i.member_id: i for i in req.items}
    assert by_member[stays.id].card is not None and by_member[stays.id].excluded_reason == ""
    assert by_member[withdraws.id].card is None and by_member[withdraws.id].excluded_reason == "consent_withdrawn"
    assert by_member[withdraws.id].excluded_on == batch.cutoff.date()
    assert by_member[leaves.id].card is None and by_member[leaves.id].excluded_reason == "not_member"
    withdrawn = db.session.get(type(withdraws), withdraws.id)
    assert withdrawn.card_number is None and withdrawn.card_status == CardStatus.NOT_ORDERED
    assert db.session.scalar(select(Card.id).where(Card.member_id == withdraws.id)) is None
    # The producer's manifest, read back: only the member whose consent is in force.
    xlsx, csv_rows = _manifest_rows(app, batch)
    assert [r[2] for r in xlsx[1:]] == [stays.last_name] and batch.cards == 1
    assert len(csv_rows) == 2 and "Отозвавшая" not in (Path(app.config["UPLOAD_DIR"]) / ops.MANIFEST_AREA
                                                    / batch.manifest_csv).read_text("utf-8-sig")
    assert "Отозвавшая" not in str(xlsx)
    # The chair sees who was left out and why, on the request page and in its history.
    page = client.get(f"/card-requests/{req.id}").get_data(as_text=True)
    assert "Не включён в партию" in page and "согласие на обработку персональных данных отозвано" in page
    (entry,) = [h for h in history(CARD_REQUEST, req) if h.action == "process"]
    assert "отозвано — 1" in entry.comment and "не состоит на учёте в Профсоюзе — 1" in entry.comment
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "card_request_processed"))
    assert "карт — 1" in mail.body and "Не включены" in mail.body and "Отозвавшая" not in mail.body
    # Shipping and handing over the one card issues the request: those left out do not hold it back.
    regional = make_app().test_client()
    login(regional, world.users["regional_staff"])
    r = regional.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA1", "on_date": date.today().isoformat()})
    assert r.status_code == 302, r.get_data(as_text=True)
    r = regional.post(f"/card-requests/{req.id}/receive", data={"on_date": date.today().isoformat()})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    r = client.post(f"/cards/{by_member[stays.id].card_id}/hand_over")
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CardRequest, req.id).state == RequestState.ISSUED


def test_request_with_nobody_left_is_cancelled_not_processed(client, world, app):
    login(client, world.users["primary_chair"])
    (only,) = consenting(world.school_a, 1)
    req = _draft_with(client, world.school_a, [only])
    client.post(f"/card-requests/{req.id}/submit")
    client.post(f"/members/{only.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": "отзыв"})
    batch = _process()
    db.session.expire_all()
    req = db.session.get(CardRequest, req.id)
    assert req.state == RequestState.CANCELLED and batch.requests == 0 and batch.cards == 0
    assert req.items[0].excluded_reason == "consent_withdrawn"
    xlsx, csv_rows = _manifest_rows(app, batch)
    assert len(xlsx) == 1 and len(csv_rows) == 1  # the header only
    assert [h.action for h in history(CARD_REQUEST, req)] == ["submit", "cancel"]
