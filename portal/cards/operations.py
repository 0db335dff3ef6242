"""Card numbers, allocation at processing, and the production manifest."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select, text, update

from portal.cards.models import Card, CardRequest, CardRequestItem, CardState, Counter, RequestState
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus
from portal.text import gendered

CARD_PREFIX = "2202"  # the programme's issuer prefix; 11 digits of sequence and a Luhn check digit follow


def luhn_digit(body: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_digit(number[:-1]) == number[-1]


def card_number(seq: int) -> str:
    body = f"{CARD_PREFIX}{seq:011d}"
    return body + luhn_digit(body)


def next_sequence(count: int, name: str = "card") -> list[int]:
    """Reserve `count` numbers from a counter with one atomic UPDATE … RETURNING (row-locked until commit)."""
    if count <= 0:
        return []
    advance = (update(Counter).where(Counter.name == name).values(value=Counter.value + count)
               .returning(Counter.value).execution_options(synchronize_session=False))
    end = db.session.execute(advance).scalar()
    if end is None:  # the very first number: create the counter (of two first allocations at once, one inserts)
        db.session.execute(text("INSERT INTO counters (name, value) VALUES (:n, 0) ON CONFLICT (name) DO NOTHING"),
                           {"n": name})
        end = db.session.execute(advance).scalar_one()
    return list(range(end - count + 1, end + 1))


def allocate_cards(req: CardRequest, batch_id: int | None, on: date) -> list[Card]:
    """Give every member of a processed request a card with a fresh number."""
    members = [item for item in req.items if item.card_id is None and not item.excluded_reason]
    seqs = next_sequence(len(members))
    cards = []
    for item, seq in zip(members, seqs, strict=True):
        card = Card(number=card_number(seq), member_id=item.member_id, request_id=req.id, state=CardState.ORDERED)
        db.session.add(card)
        item.card = card
        item.member.card_status = CardStatus.ORDERED
        item.member.card_number = card.number
        cards.append(card)
    req.batch_id = batch_id
    req.processed_on = on
    db.session.flush()
    return cards


def live_card(member_id: int) -> Card | None:
    return db.session.scalar(select(Card).where(Card.member_id == member_id, Card.state.not_in(
        [CardState.LOST, CardState.BLOCKED, CardState.REISSUED])).order_by(Card.id.desc()))


# ---- requests ---------------------------------------------------------------------------------------------------

MANIFEST_AREA = "manifests"
MANIFEST_COLUMNS = ["№", "Номер карты", "Фамилия", "Имя", "Отчество", "Регион", "Организация", "Заявка"]
SHIP_DAYS = 14  # seed 002 step 9: shipped within 14 calendar days of processing


def draft_for(org, actor) -> CardRequest:
    """The organisation's open draft, or a new one."""
    from portal.cards.models import RequestState

    req = db.session.scalar(select(CardRequest).where(CardRequest.org_id == org.id,
                                                      CardRequest.state == RequestState.DRAFT)
                            .order_by(CardRequest.id.desc()))
    if req is None:
        req = CardRequest(org_id=org.id, created_by_id=getattr(actor, "id", None))
        db.session.add(req)
        db.session.flush()
    return req


def busy_members(member_ids, request_id: int | None = None) -> set[int]:
    """Of these members, the ones already in another open (draft or submitted) request: one query for all."""
    ids = list(member_ids)
    if not ids:
        return set()
    return set(db.session.scalars(
        select(CardRequestItem.member_id).join(CardRequest)
        .where(CardRequestItem.member_id.in_(ids), CardRequest.id != (request_id or 0),
               CardRequest.state.in_([RequestState.DRAFT, RequestState.SUBMITTED]))))


def member_card_problem(member: Member, request_id: int | None = None, busy: set[int] | None = None) -> str | None:
    """Why a member can't be put in a card request (None: they can); `busy` is `busy_members` asked once for many."""
    if member.status != MemberStatus.ACTIVE:
        return gettext("%(name)s: не состоит на учёте.", name=member.short_name)
    if member.consent_status not in (ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED):
        return gettext("%(name)s: нет подписанного согласия на обработку персональных данных.", name=member.short_name)
    if member.card_status not in (CardStatus.NOT_ORDERED, CardStatus.REISSUED):
        return gettext("%(name)s: билет уже %(state)s.", name=member.short_name, state=member.card_status.label)
    if member.id in (busy if busy is not None else busy_members([member.id], request_id)):
        return gendered(member.gender, gettext("%(name)s: уже включён в другую заявку.", name=member.short_name),
                        gettext("%(name)s: уже включена в другую заявку.", name=member.short_name))
    return None


def request_members(req) -> list[Member]:
    """The members of a request in its order, in one query (the items then find them in the session)."""
    return list(db.session.scalars(
        select(Member).join(CardRequestItem, CardRequestItem.member_id == Member.id)
        .where(CardRequestItem.request_id == req.id).order_by(CardRequestItem.id)))


def add_members(req: CardRequest, members) -> tuple[int, list[str]]:
    """Put eligible members into a draft; returns (added, reasons for the ones refused)."""
    from portal.cards.models import CardRequestItem, RequestState

    if req.state != RequestState.DRAFT:
        return 0, [gettext("В отправленную заявку добавлять нельзя.")]
    present = {item.member_id for item in req.items}
    busy = busy_members([m.id for m in members], req.id)  # one query, not one a member
    added, refused = 0, []
    for m in members:
        if m.id in present:
            continue
        if m.org_id != req.org_id:
            refused.append(gettext("%(name)s: состоит в другой организации.", name=m.short_name))
            continue
        problem = member_card_problem(m, req.id, busy)
        if problem:
            refused.append(problem)
            continue
        db.session.add(CardRequestItem(request_id=req.id, member_id=m.id))
        present.add(m.id)
        added += 1
    db.session.flush()
    db.session.expire(req, ["items"])
    return added, refused


def remove_member(req: CardRequest, member_id: int) -> bool:
    from portal.cards.models import CardRequestItem, RequestState

    if req.state != RequestState.DRAFT:
        return False
    item = db.session.scalar(select(CardRequestItem).where(CardRequestItem.request_id == req.id,
                                                           CardRequestItem.member_id == member_id))
    if item is None:
        return False
    db.session.delete(item)
    db.session.flush()
    db.session.expire(req, ["items"])
    return True


def exclusion_reason(member) -> str:
    """Why a member of a submitted request may not get a card now ("" if they may): a key of EXCLUSION_TITLES.

    Checked at processing time, not only at submission: consent may be withdrawn (or the member leave) while the
    request waits for the 1st or the 15th, and then no card number is given and nothing of theirs goes to the
    producer (SPEC §4: withdrawal takes effect at once).
    """
    from portal.registry.models import ConsentStatus, MemberStatus

    if member.status != MemberStatus.ACTIVE:
        return "not_member"
    if member.consent_status == ConsentStatus.WITHDRAWN:
        return "consent_withdrawn"
    if member.consent_status not in (ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED):
        return "no_consent"
    return ""


def leave_out_ineligible(req: CardRequest, on: date) -> list:
    """Mark the items whose member may not get a card now (reason and date kept on the item); returns them.

    The member's card status goes back from «заказан» to «не заказан», so they can be put into a later request
    once a consent is signed again. The exclusion is audited per member (the chair sees it on the request page).
    """
    from portal import audit

    left_out = []
    for item in req.items:
        if item.card_id is not None or item.excluded_reason:
            continue
        reason = exclusion_reason(item.member)
        if not reason:
            continue
        item.excluded_reason = reason
        item.excluded_on = on
        if item.member.card_status == CardStatus.ORDERED:
            item.member.card_status = CardStatus.NOT_ORDERED
        audit.record("card_request_member_left_out", object_type="card_requests", object_id=req.id,
                     org_id=req.org_id, member_id=item.member_id, reason=reason)
        left_out.append(item)
    if left_out:
        db.session.flush()
    return left_out


def left_out_comment(left_out) -> str:
    """The history comment of a processing that left members out (counts by reason; names stay on the page)."""
    from collections import Counter as Count

    from portal.cards.models import EXCLUSION_TITLES

    counts = Count(item.excluded_reason for item in left_out)
    return "Не включены в партию: " + "; ".join(f"{EXCLUSION_TITLES[k]} — {n}" for k, n in sorted(counts.items()))


def process_due_requests(cutoff, on: date):
    """Process together every request submitted before the cut-off: numbers, then the manifest (XLSX + CSV).

    Runs once per cut-off (the batch's cutoff is unique); returns the batch, or None if nothing was waiting.
    Members whose consent is not in force at this moment (withdrawn while the request waited, or who left the
    union) are left out first: no card number, no row in the manifest, the reason kept on the request's item.
    A request left with nobody is cancelled by the system (with the reason in its history), not processed.
    """
    import io

    from openpyxl import Workbook

    from portal.cards.flow import notify_chair
    from portal.cards.models import CardRequestItem, ProductionBatch, RequestState
    from portal.files import remove_stored, store_bytes
    from portal.registry.models import Member, Organisation
    from portal.spreadsheets import append, csv_bytes
    from workflows import CARD_REQUEST, fire

    existing = db.session.scalar(select(ProductionBatch).where(ProductionBatch.cutoff == cutoff))
    if existing is not None:
        return existing
    reqs = db.session.scalars(select(CardRequest).where(CardRequest.state == RequestState.SUBMITTED,
                                                        CardRequest.submitted_at < cutoff)
                              .order_by(CardRequest.id).with_for_update(skip_locked=True)).all()
    if reqs:
        # The members' rows are locked (PostgreSQL) and re-read, so a withdrawal committed a moment ago is seen and
        # one arriving now waits for this batch: its consent state is then checked against what was processed.
        member_ids = select(CardRequestItem.member_id).where(CardRequestItem.request_id.in_([r.id for r in reqs]))
        db.session.scalars(select(Member).where(Member.id.in_(member_ids)).with_for_update()
                           .execution_options(populate_existing=True)).all()
    batch = ProductionBatch(cutoff=cutoff)
    db.session.add(batch)
    db.session.flush()
    rows = []
    processed = left_out_total = 0
    for req in reqs:
        left_out = leave_out_ineligible(req, on)
        left_out_total += len(left_out)
        comment = left_out_comment(left_out) if left_out else ""
        if len(left_out) == len(req.items):
            fire(CARD_REQUEST, req, "cancel", None, comment=comment)
            notify_chair(req, f"Заявка № {req.id} на выпуск ЭПБ отменена",
                         f"Заявка № {req.id} ({req.org.name}) не обработана и отменена: ни у кого из включённых в неё "
                         "нет действующего согласия на обработку персональных данных (или они не состоят на учёте). "
                         "Причины по каждому — на странице заявки.", "card_request_cancelled")
            continue
        fire(CARD_REQUEST, req, "process", None, comment=comment, params={"batch_id": batch.id, "on_date": on})
        processed += 1
        region_id = req.org.ancestor_ids()[1] if len(req.org.ancestor_ids()) > 1 else req.org_id
        region = db.session.get(Organisation, region_id)
        for item in req.items:
            if item.excluded_reason:
                continue
            m = item.member
            rows.append([item.card.number, m.last_name, m.first_name, m.patronymic, str(region), req.org.name,
                         req.id])
    batch.requests = processed
    batch.cards = len(rows)
    if left_out_total:
        batch.note = f"Не включено членов Профсоюза (нет действующего согласия или не состоят на учёте): {left_out_total}."
    stamp = on.strftime("%Y%m%d")
    batch.manifest_xlsx = f"manifest-{stamp}-{batch.id}.xlsx"
    batch.manifest_csv = f"manifest-{stamp}-{batch.id}.csv"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Реестр карт")
    ws.append(MANIFEST_COLUMNS)
    numbered = [[i, *row] for i, row in enumerate(rows, 1)]
    for row in numbered:
        append(ws, row)  # text stays text: an organisation's name from its passport is never a formula
    out = io.BytesIO()
    wb.save(out)
    try:
        store_bytes(MANIFEST_AREA, batch.manifest_xlsx, out.getvalue())
        store_bytes(MANIFEST_AREA, batch.manifest_csv, csv_bytes(MANIFEST_COLUMNS, numbered, encoding="utf-8-sig"))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_stored(MANIFEST_AREA, batch.manifest_xlsx)
        remove_stored(MANIFEST_AREA, batch.manifest_csv)
        raise
    return batch


def overdue_condition(on: date):
    """Processed requests not shipped within 14 calendar days."""
    from datetime import timedelta

    from portal.cards.models import RequestState

    return (CardRequest.state == RequestState.PROCESSED) & (CardRequest.processed_on < on - timedelta(days=SHIP_DAYS))
