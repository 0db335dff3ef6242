"""Consent over HTTP (SPEC §4): print, sign with a scan, withdraw, batch print, and the daily PROFCARDS delta."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from portal.consent import operations as ops
from portal.consent.models import BonusExport, ConsentRecord
from portal.extensions import db
from portal.registry.models import ConsentStatus
from tests.conftest import create_member, login, ready_for_consent
from tests.form_helpers import field_error, field_value

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _records(m) -> list[str]:
    return [r.kind for r in db.session.scalars(select(ConsentRecord).where(ConsentRecord.member_id == m.id)
                                               .order_by(ConsentRecord.id))]


def _print(client, m, fmt="pdf"):
    return client.post(f"/members/{m.id}/consent/print", data={"fmt": fmt})


def _sign(client, m, on=None, scan=None, ticked=True):
    data = {"on_date": (on or date.today()).isoformat()}
    if ticked:
        data["consent152"] = "yes"
    if scan is not None:
        data["scan"] = (io.BytesIO(scan[1]), scan[0])
    return client.post(f"/members/{m.id}/consent/sign", data=data, content_type="multipart/form-data")


def test_printing_gives_a_pdf_and_moves_none_to_printed(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = _print(client, m)
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert "attachment" in r.headers["Content-Disposition"] and r.headers["X-Content-Type-Options"] == "nosniff"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.data)).pages)
    assert "Алексеева" in text and "152-ФЗ" in text
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.PRINTED
    docx = _print(client, m, "docx")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.PRINTED and _records(m) == ["printed"]


def test_signing_without_the_152_fz_tick_records_nothing(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    _print(client, m)
    r = _sign(client, m, ticked=False, on=date.today() - timedelta(days=3))
    # The page again with the signing form as typed and the reason (issue 9 item 5), not a redirect that loses it.
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Отметьте согласие по ФЗ № 152-ФЗ" in page
    assert field_value(page, "on_date") == (date.today() - timedelta(days=3)).isoformat()
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.PRINTED
    assert db.session.scalar(select(func.count()).select_from(ConsentRecord).where(
        ConsentRecord.kind == "signed")) == 0


def test_signing_with_a_scan_then_downloading_it(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    _print(client, m)
    r = _sign(client, m, scan=("скан.png", PNG))
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.SIGNED
    rec = db.session.scalar(select(ConsentRecord).where(ConsentRecord.kind == "signed"))
    assert rec.scan_type == "png" and rec.scan_name.endswith(".png") and "скан" not in rec.scan_name
    got = client.get(f"/members/{m.id}/consent/scan/{rec.id}")
    assert got.status_code == 200 and got.data == PNG
    assert got.headers["X-Content-Type-Options"] == "nosniff" and "attachment" in got.headers["Content-Disposition"]


def test_a_scan_that_is_not_pdf_jpeg_or_png_is_refused_and_nothing_is_kept(client, world, app):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    _print(client, m)
    r = _sign(client, m, scan=("scan.pdf", b"<svg onload=alert(1)></svg>"))
    assert r.status_code == 422
    assert "Можно загрузить только PDF, JPEG, PNG" in field_error(r.get_data(as_text=True), "scan")
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.PRINTED
    scans = Path(app.config["UPLOAD_DIR"]) / "consent-scans"
    assert not scans.exists() or not any(scans.iterdir())


def test_signing_before_printing_is_a_409_that_changes_nothing(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = _sign(client, m)
    assert r.status_code == 409 and "невозможно в состоянии" in r.get_data(as_text=True)
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.NONE and _records(m) == []


def test_a_future_signing_date_goes_back_to_the_form(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    _print(client, m)
    r = _sign(client, m, on=date.today() + timedelta(days=2))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "не может быть в будущем" in field_error(page, "on_date")
    assert field_value(page, "on_date") == (date.today() + timedelta(days=2)).isoformat()


def test_withdrawal_needs_grounds_and_stops_transfer(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    _print(client, m)
    _sign(client, m)
    r = client.post(f"/members/{m.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": ""})
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "reason") == "Укажите основание отзыва."
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.SIGNED
    r = client.post(f"/members/{m.id}/consent/withdraw",
                    data={"on_date": date.today().isoformat(), "reason": "заявление от 01.11"})
    assert r.status_code == 302
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.WITHDRAWN
    assert ops.export_to_bonus_programme() is None  # never told the programme, so nothing to delete either


@pytest.mark.parametrize("actor,member", [("other_region_chair", "a"), ("territorial_chair", "a3"),
                                          ("primary_chair", "a2")])
def test_consent_of_a_member_outside_scope_is_404(client, world, actor, member):
    login(client, world.users[actor])
    m = world.members[member]
    for r in (client.get(f"/members/{m.id}/consent"), _print(client, m), _sign(client, m)):
        assert r.status_code == 404
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.NONE


def test_daily_export_is_a_delta_and_idempotent(client, world, app):
    login(client, world.users["primary_chair"])
    a, b = world.members["a"], ready_for_consent(create_member(world.school_a, last_name="Борисова",
                                                                email="b@example.ru"))
    signed = {a.id: date.today() - timedelta(days=3), b.id: date.today() - timedelta(days=1)}
    for m in (a, b):
        _print(client, m)
        _sign(client, m, on=signed[m.id])
    export = ops.export_to_bonus_programme()
    assert (export.rows_added, export.rows_withdrawn) == (2, 0)
    path = Path(app.config["UPLOAD_DIR"]) / ops.EXPORT_AREA / export.csv_name
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == export.sha256
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter=";"))
    assert {(r["action"], r["last_name"]) for r in rows} == {("add", "Алексеева"), ("add", "Борисова")}
    assert {int(r["member_id"]): r["consent_date"] for r in rows} == {k: v.isoformat() for k, v in signed.items()}
    assert json.loads((path.parent / export.json_name).read_text())["rows"][0]["action"] == "add"
    for m in (a, b):
        db.session.refresh(m)
        assert m.consent_status == ConsentStatus.TRANSFERRED
    # Run again: nothing new, nothing exported twice.
    assert ops.export_to_bonus_programme() is None
    assert db.session.scalar(select(func.count()).select_from(BonusExport)) == 1
    # A withdrawal after the transfer is itself transferred, once.
    client.post(f"/members/{b.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": "отзыв"})
    second = ops.export_to_bonus_programme()
    assert (second.rows_added, second.rows_withdrawn) == (0, 1)
    rows = list(csv.DictReader(io.StringIO((path.parent / second.csv_name).read_text()), delimiter=";"))
    assert rows == [{**{k: "" for k in ops.EXPORT_COLUMNS}, "action": "delete", "member_id": str(b.id)}]
    assert ops.export_to_bonus_programme() is None
    assert _records(b) == ["printed", "signed", "transferred", "withdrawn", "withdrawal_transferred"]


def test_the_export_runs_daily_so_a_consent_reaches_the_programme_within_a_day(app):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from portal.jobs.schedule import get_job, load_job_modules

    load_job_modules()
    job = get_job("bonus_export")
    assert job is not None
    msk = ZoneInfo("Europe/Moscow")
    signed_at = datetime(2026, 11, 20, 1, 30, tzinfo=msk)  # just after the run
    slots = job.schedule.slots_between(signed_at, signed_at + timedelta(days=1))
    assert len(slots) == 1 and slots[0] - signed_at <= timedelta(days=1)


def test_batch_print_makes_one_pdf_and_marks_everyone_printed(client, world):
    login(client, world.users["primary_chair"])
    members = [world.members["a"]] + [ready_for_consent(create_member(world.school_a)) for _ in range(4)]
    r = client.post(f"/orgs/{world.school_a.id}/consents/print", data={"member_ids": [m.id for m in members]})
    assert r.status_code == 302
    page = client.get(r.location).get_data(as_text=True)
    assert "Готово." in page
    status = client.get(r.location + "/status").get_json()
    assert status["status"] == "done" and status["done"] == 5
    pdf = client.get(status["download"])
    assert pdf.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.data))
    text = "".join(p.extract_text() for p in reader.pages)
    for m in members:
        assert m.last_name in text
        db.session.refresh(m)
        assert m.consent_status == ConsentStatus.PRINTED


def test_batch_print_refuses_members_outside_scope(client, world):
    login(client, world.users["primary_chair"])
    r = client.post(f"/orgs/{world.school_a.id}/consents/print",
                    data={"member_ids": [world.members["a"].id, world.members["b"].id]})
    assert r.status_code == 404
    db.session.refresh(world.members["a"])
    assert world.members["a"].consent_status == ConsentStatus.NONE


def test_batch_of_someone_else_is_404(client, world, make_app):
    login(client, world.users["primary_chair"])
    r = client.post(f"/orgs/{world.school_a.id}/consents/print", data={"member_ids": [world.members["a"].id]})
    other = make_app().test_client()
    login(other, world.users["other_region_chair"])
    assert other.get(r.location).status_code == 404
    assert other.get(r.location + "/download").status_code == 404
