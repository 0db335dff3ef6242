"""152-FZ art. 21 after a withdrawal: the member's rows leave the kept PROFCARDS files and card manifests in the next
nightly run, with a destruction record; files past their retention are deleted. Files are read back as a person
would, and checksums and row counts are checked against the files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.cards import operations as card_ops
from portal.cards.models import CardRequest, ProductionBatch
from portal.clock import add_years
from portal.consent import operations as consent_ops
from portal.consent.models import BatchPrint, BonusExport, DataDestruction
from portal.extensions import db
from portal.jobs import retention
from portal.jobs.runner import run_due
from portal.jobs.schedule import MOSCOW
from tests.conftest import create_member, login, ready_for_consent


def _sign(client, m):
    ready_for_consent(m)  # the consent form needs the member's identity document and the operator's address
    client.post(f"/members/{m.id}/consent/print", data={"fmt": "pdf"})
    r = client.post(f"/members/{m.id}/consent/sign", data={"on_date": date.today().isoformat(), "consent152": "yes"},
                    content_type="multipart/form-data")
    assert r.status_code == 302


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig")


def test_withdrawn_members_rows_are_stripped_from_kept_files_with_a_record(client, world, app, make_app):
    login(client, world.users["primary_chair"])
    stays = create_member(world.school_a, last_name="Остающаяся", phone="+79001112233", email="stay@example.ru")
    goes = create_member(world.school_a, last_name="Отозвавшая", first_name="Вера", phone="+79005556677",
                         email="vera@example.ru", birth_date=date(1981, 7, 23))
    for m in (stays, goes):
        _sign(client, m)
    export = consent_ops.export_to_bonus_programme()
    # Both get cards: the manifest for the producer names both.
    client.post(f"/orgs/{world.school_a.id}/card-requests/add", data={"member_ids": [stays.id, goes.id]})
    req = db.session.scalar(select(CardRequest))
    client.post(f"/card-requests/{req.id}/submit")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    batch = card_ops.process_due_requests(cutoff, cutoff.date())
    exports = Path(app.config["UPLOAD_DIR"]) / consent_ops.EXPORT_AREA
    manifests = Path(app.config["UPLOAD_DIR"]) / card_ops.MANIFEST_AREA
    assert "Отозвавшая" in _text(exports / export.csv_name) and "vera@example.ru" in _text(exports / export.json_name)
    assert "Отозвавшая" in _text(manifests / batch.manifest_csv)
    sha_before = export.sha256

    r = client.post(f"/members/{goes.id}/consent/withdraw", data={"on_date": date.today().isoformat(),
                                                                  "reason": "Письменный отзыв"})
    assert r.status_code == 302
    # The nightly job, through the real runner.
    slot = datetime.now(MOSCOW).replace(hour=3, minute=0, second=0, microsecond=0)
    if slot > datetime.now(MOSCOW):
        slot -= timedelta(days=1)
    runs = run_due(now=slot + timedelta(minutes=1), names=[retention.JOB_NAME])
    assert [r.status for r in runs] == ["done"], [r.output for r in runs]
    assert "Отзывов согласия обработано: 1, строк удалено из файлов: 2" in runs[0].output

    db.session.expire_all()
    export, batch = db.session.get(BonusExport, export.id), db.session.get(ProductionBatch, batch.id)
    csv_text, json_text = _text(exports / export.csv_name), _text(exports / export.json_name)
    for secret in ("Отозвавшая", "Вера", "1981-07-23", "+79005556677", "vera@example.ru", f";{goes.id};"):
        assert secret not in csv_text and secret not in json_text
    assert "Остающаяся" in csv_text and "stay@example.ru" in json_text
    # The checksum and the counts describe the file as it is now.
    assert hashlib.sha256((exports / export.csv_name).read_bytes()).hexdigest() == export.sha256 != sha_before
    rows = list(csv.DictReader(io.StringIO(csv_text), delimiter=";"))
    assert (export.rows_added, export.rows_stripped) == (len(rows), 1) == (1, 1)
    assert json.loads(json_text)["rows_stripped"] == 1 and len(json.loads(json_text)["rows"]) == 1
    # The manifests: the other card stays, with its row number; the count of cards allocated is unchanged.
    xlsx = list(load_workbook(manifests / batch.manifest_xlsx).active.iter_rows(values_only=True))
    assert [r[2] for r in xlsx[1:]] == ["Остающаяся"] and "Отозвавшая" not in _text(manifests / batch.manifest_csv)
    assert (batch.cards, batch.rows_stripped) == (2, 1)
    # One destruction record: who, why, what, where, when, by which job.
    (rec,) = db.session.scalars(select(DataDestruction)).all()
    assert rec.member_id == goes.id and rec.job == retention.JOB_NAME and rec.rows_removed == 2
    assert "дата рождения" in rec.categories and "телефон" in rec.categories and "152-ФЗ" in rec.reason
    files = json.loads(rec.files)
    assert {f["area"] for f in files} == {consent_ops.EXPORT_AREA, card_ops.MANIFEST_AREA}
    bonus = next(f for f in files if f["area"] == consent_ops.EXPORT_AREA)
    assert (bonus["sha256_before"], bonus["sha256_after"]) == (sha_before, export.sha256)
    # Again: nothing more to do, no second record.
    assert retention.destroy_after_withdrawals() == []
    assert db.session.scalar(select(func.count()).select_from(DataDestruction)) == 1
    # Central administrators see the records; a regional chair gets 404.
    admin = make_app().test_client()
    login(admin, "central")
    page = admin.get("/consent/destructions").get_data(as_text=True)
    assert "Отозвавшая" in page and export.csv_name in page and retention.JOB_NAME in page
    assert "Удалено строк" in admin.get("/consent-exports").get_data(as_text=True)
    assert client.get("/consent/destructions").status_code == 404


def test_withdrawal_before_any_transfer_is_recorded_with_nothing_to_strip(client, world):
    login(client, world.users["primary_chair"])
    m = create_member(world.school_a)
    _sign(client, m)
    client.post(f"/members/{m.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": "отзыв"})
    (rec,) = retention.destroy_after_withdrawals()
    assert rec.rows_removed == 0 and json.loads(rec.files) == [] and "нет" in rec.categories


def test_files_past_their_retention_are_deleted_and_the_rows_stay(client, world, app, make_app):
    login(client, world.users["primary_chair"])
    m = create_member(world.school_a)
    _sign(client, m)
    export = consent_ops.export_to_bonus_programme()
    folder = Path(app.config["UPLOAD_DIR"]) / consent_ops.EXPORT_AREA
    batch_dir = Path(app.config["UPLOAD_DIR"]) / "consent-batches"
    batch_dir.mkdir(parents=True, exist_ok=True)
    (batch_dir / "old.pdf").write_bytes(b"%PDF-1.4 old")
    (batch_dir / "new.pdf").write_bytes(b"%PDF-1.4 new")
    old = BatchPrint(org_id=world.school_a.id, member_ids="[]", status="done", stored_name="old.pdf",
                     created_at=datetime.now(UTC) - timedelta(days=31))
    new = BatchPrint(org_id=world.school_a.id, member_ids="[]", status="done", stored_name="new.pdf")
    db.session.add_all([old, new])
    db.session.commit()
    assert retention.purge_expired_files() == {"bonus_exports": 0, "consent_batches": 1, "imports": 0,
                                               "consent_scans": 0}
    assert not (batch_dir / "old.pdf").exists() and (batch_dir / "new.pdf").exists()
    assert client.get(f"/consent-batches/{old.id}/download").status_code == 410
    db.session.execute(BonusExport.__table__.update().values(run_at=datetime.now(UTC) - timedelta(days=91)))
    db.session.commit()
    assert retention.purge_expired_files()["bonus_exports"] == 1
    db.session.expire_all()
    export = db.session.get(BonusExport, export.id)
    assert export.purged_at is not None and export.rows_added == 1 and export.sha256
    assert not (folder / export.csv_name).exists() and not (folder / export.json_name).exists()
    admin = make_app().test_client()
    login(admin, "central")
    assert admin.get(f"/consent-exports/{export.id}/csv").status_code == 410
    assert "файлы удалены" in admin.get("/consent-exports").get_data(as_text=True)


def test_a_consent_scan_outlives_the_withdrawal_by_three_years(client, world, app):
    from portal.consent.models import ConsentRecord

    login(client, world.users["primary_chair"])
    m = ready_for_consent(create_member(world.school_a))
    client.post(f"/members/{m.id}/consent/print", data={"fmt": "pdf"})
    r = client.post(f"/members/{m.id}/consent/sign", content_type="multipart/form-data",
                    data={"on_date": date.today().isoformat(), "consent152": "yes",
                          "scan": (io.BytesIO(b"%PDF-1.4 signed form"), "scan.pdf")})
    assert r.status_code == 302
    client.post(f"/members/{m.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": "отзыв"})
    signed = db.session.scalar(select(ConsentRecord).where(ConsentRecord.kind == "signed"))
    scan = Path(app.config["UPLOAD_DIR"]) / consent_ops.SCAN_AREA / signed.scan_name
    assert scan.exists()
    assert retention.purge_expired_files()["consent_scans"] == 0  # withdrawn today: kept
    withdrawal = db.session.scalar(select(ConsentRecord).where(ConsentRecord.kind == "withdrawn"))
    db.session.execute(ConsentRecord.__table__.update().where(ConsentRecord.id == withdrawal.id)
                       .values(on_date=add_years(date.today(), -3)))
    db.session.commit()
    assert retention.purge_expired_files()["consent_scans"] == 1
    assert not scan.exists()
    assert retention.purge_expired_files()["consent_scans"] == 0  # recorded once
    (rec,) = db.session.scalars(select(DataDestruction).where(DataDestruction.withdrawal_id.is_(None))).all()
    assert rec.member_id == m.id and "скан" in rec.categories
    assert client.get(f"/members/{m.id}/consent/scan/{signed.id}").status_code == 410


def test_a_manifest_downloaded_before_the_night_already_lacks_the_withdrawn_member(client, world, make_app):
    login(client, world.users["primary_chair"])
    stays = create_member(world.school_a, last_name="Остающаяся")
    goes = create_member(world.school_a, last_name="Отозвавшая")
    for m in (stays, goes):
        _sign(client, m)
    client.post(f"/orgs/{world.school_a.id}/card-requests/add", data={"member_ids": [stays.id, goes.id]})
    req = db.session.scalar(select(CardRequest))
    client.post(f"/card-requests/{req.id}/submit")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    batch = card_ops.process_due_requests(cutoff, cutoff.date())
    client.post(f"/members/{goes.id}/consent/withdraw", data={"on_date": date.today().isoformat(), "reason": "отзыв"})
    admin = make_app().test_client()
    login(admin, "central")
    body = admin.get(f"/card-batches/{batch.id}/manifest.csv").get_data().decode("utf-8-sig")
    assert "Остающаяся" in body and "Отозвавшая" not in body
    xlsx = admin.get(f"/card-batches/{batch.id}/manifest.xlsx").get_data()
    names = [r[2] for r in load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True)][1:]
    assert names == ["Остающаяся"]
    (rec,) = db.session.scalars(select(DataDestruction)).all()
    assert rec.member_id == goes.id and rec.job == retention.DOWNLOAD_JOB_NAME and rec.rows_removed == 1
