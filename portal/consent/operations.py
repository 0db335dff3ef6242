"""Consent operations: print, record the signature (with an optional scan), withdraw, and the daily transfer.

The transfer to PROFCARDS is a delta: members whose signed consent the programme has not been told of, and
members who withdrew after the programme was told. `Member.consent_exported` remembers what the programme knows,
so a second run the same day finds nothing; a member signed at any hour is in the next daily run (≤ 24 h).

After a withdrawal, `portal.jobs.retention` strips the member from the kept transfer files and manifests (the next
night, or before such a file is downloaded) and records the destruction; it also says how long each file is kept.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

from sqlalchemy import func, or_, select

from portal import audit
from portal.clock import now, today
from portal.consent.models import BonusExport, ConsentRecord
from portal.extensions import db
from portal.files import remove_stored, store_bytes
from portal.registry.models import ConsentStatus, Member, MemberStatus, Organisation
from portal.spreadsheets import csv_bytes as spreadsheet_csv
from workflows import CONSENT, fire

EXPORT_AREA = "exports/bonus"
SCAN_AREA = "consent-scans"  # scans of signed consents (kept as portal.jobs.retention says)
BATCH_AREA = "consent-batches"  # batch-printed consent PDFs
EXPORT_COLUMNS = ["action", "member_id", "last_name", "first_name", "patronymic", "birth_date", "phone", "email",
                  "region", "organisation", "card_number", "consent_date"]


def mark_printed(actor, member: Member) -> bool:
    """Printing a form moves a member without consent (or after a withdrawal) to «printed»; reprints change nothing."""
    if member.consent_status in (ConsentStatus.NONE, ConsentStatus.WITHDRAWN):
        fire(CONSENT, member, "print", actor)
        return True
    return False


def record_signature(actor, member: Member, on_date: date, scan: tuple[str, str] | None = None) -> None:
    """The chair ticks the 152-FZ box with the signing date; the scan (stored name, kind) is optional."""
    params = {"on_date": on_date}
    if scan:
        params.update(scan_name=scan[0], scan_type=scan[1])
    fire(CONSENT, member, "sign", actor, params=params)
    audit.record("consent_sign", member, actor=actor, on_date=on_date, scan=bool(scan))


def withdraw(actor, member: Member, on_date: date, reason: str) -> None:
    """Withdrawal takes effect at once: no more transfers; the next daily run tells the programme to delete."""
    fire(CONSENT, member, "withdraw", actor, comment=reason, params={"on_date": on_date})
    audit.record("consent_withdraw", member, actor=actor, on_date=on_date)


def _signed_on(member_ids: list[int], step: int = 10_000) -> dict[int, date]:
    """The date of each member's latest signature: one query per `step` members, not one per member."""
    found = {}
    for i in range(0, len(member_ids), step):
        latest = (select(func.max(ConsentRecord.id))
                  .where(ConsentRecord.kind == "signed", ConsentRecord.member_id.in_(member_ids[i:i + step]))
                  .group_by(ConsentRecord.member_id))
        found.update(db.session.execute(select(ConsentRecord.member_id, ConsentRecord.on_date)
                                        .where(ConsentRecord.id.in_(latest))).all())
    return found


def pending_delta():
    """Members the programme must hear about: new signatures, and withdrawals after a transfer."""
    return select(Member).where(or_(
        (Member.consent_status == ConsentStatus.SIGNED) & (Member.consent_exported != "signed")
        & (Member.status == MemberStatus.ACTIVE),
        (Member.consent_status == ConsentStatus.WITHDRAWN) & (Member.consent_exported == "signed"),
    )).order_by(Member.id)


def export_to_bonus_programme() -> BonusExport | None:
    """Write the delta file (CSV and JSON) and move each exported consent on; None when there is nothing new.

    Files are written first under random names, then the transaction commits; if anything fails the files are
    removed and nothing in the database changes, so the next run exports the same members again.
    """
    members = db.session.scalars(pending_delta().with_for_update(skip_locked=True)).all()
    if not members:
        return None
    orgs = {o.id: o for o in db.session.scalars(select(Organisation).where(
        Organisation.id.in_({m.org_id for m in members})))}
    region_ids = {o.ancestor_ids()[1] for o in orgs.values() if len(o.ancestor_ids()) > 1}
    regions = {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(region_ids)))}
    signed_on = _signed_on([m.id for m in members if m.consent_status == ConsentStatus.SIGNED])
    rows = []
    for m in members:
        org = orgs[m.org_id]
        ids = org.ancestor_ids()
        region = regions.get(ids[1]) if len(ids) > 1 else None
        if m.consent_status == ConsentStatus.SIGNED:
            rows.append({"action": "add", "member_id": m.id, "last_name": m.last_name, "first_name": m.first_name,
                         "patronymic": m.patronymic, "birth_date": m.birth_date.isoformat(), "phone": m.phone,
                         "email": m.email, "region": str(region or ""), "organisation": org.name,
                         "card_number": m.card_number or "", "consent_date": str(signed_on.get(m.id) or "")})
        else:
            rows.append({"action": "delete", "member_id": m.id, **{k: "" for k in EXPORT_COLUMNS[2:]}})
    # The CSV is for people (formulas neutralised by the one writer); the JSON twin keeps the values raw.
    csv_bytes = spreadsheet_csv(EXPORT_COLUMNS, rows)
    json_bytes = json.dumps({"generated_at": now().isoformat(), "rows": rows}, ensure_ascii=False,
                            indent=1).encode("utf-8")
    export = BonusExport(rows_added=sum(r["action"] == "add" for r in rows),
                         rows_withdrawn=sum(r["action"] == "delete" for r in rows),
                         sha256=hashlib.sha256(csv_bytes).hexdigest())
    db.session.add(export)
    db.session.flush()
    stamp = today().strftime("%Y%m%d")
    export.csv_name = f"profcards-{stamp}-{export.id}.csv"
    export.json_name = f"profcards-{stamp}-{export.id}.json"
    try:
        store_bytes(EXPORT_AREA, export.csv_name, csv_bytes)
        store_bytes(EXPORT_AREA, export.json_name, json_bytes)
        for m in members:
            if m.consent_status == ConsentStatus.SIGNED:
                fire(CONSENT, m, "transfer", None, params={"export_id": export.id, "on_date": today()})
                m.consent_exported = "signed"
            else:
                db.session.add(ConsentRecord(member_id=m.id, kind="withdrawal_transferred", on_date=today(),
                                             export_id=export.id))
                m.consent_exported = "withdrawn"
        audit.record("bonus_export", object_type="bonus_exports", object_id=export.id,
                     added=export.rows_added, withdrawn=export.rows_withdrawn)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_stored(EXPORT_AREA, export.csv_name)
        remove_stored(EXPORT_AREA, export.json_name)
        raise
    return export


def consent_print_problem(member: Member) -> str | None:
    """Why the consent form of a member cannot be printed yet, naming every missing requisite (152-FZ art. 9
    part 4: the subject's address and identity document, the workplace, the operator's address); None if it can."""
    from flask_babel import gettext

    from portal.registry.models import CONSENT_FIELD_TITLES

    missing = member.consent_missing()
    if not missing:
        return None
    return gettext("Согласие не печатается: 152-ФЗ требует указать в нём %(fields)s. Заполните эти поля в учётной "
                   "карточке (адрес организации — в паспорте организации) и распечатайте снова.",
                   fields="; ".join(gettext(CONSENT_FIELD_TITLES[f]) for f in missing))
