"""Material aid over HTTP: each role allowed and refused on each transition, 409 for illegal (state, action) pairs,
the override's reason, foreign petitions, attachments, filing with the live quote, the queue, payments, register."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from portal.aid import operations as ops
from portal.aid.models import AidPetition, AidRegulation, PetitionState
from portal.clock import today
from portal.extensions import db
from tests.aid_helpers import BIK, PDF, PNG, account, aid_fixture, attach_proof, decision, file, petition_in  # noqa: F401
from tests.conftest import create_member
from tests.conftest import login as _login
from tests.form_helpers import field_error, field_value
from workflows import AID_PETITION, history


def login(client, user):
    """Log in as `user`, ending whoever was logged in on this client first."""
    client.post("/logout")
    return _login(client, user)


ROLES = ["primary_chair", "territorial_chair", "regional_staff", "regional_chair", "presidium_member", "accountant",
         "central_admin", "other_region_chair", "other_presidium"]
# action -> (state it starts from, the roles that may fire it there)
ALLOWED = {
    "review": ("filed", {"regional_staff", "regional_chair"}),
    "approve": ("reviewed", {"presidium_member"}),
    "reject": ("reviewed", {"presidium_member"}),
    "override": ("reviewed", {"regional_chair"}),
    "pay": ("approved", {"accountant"}),
}
FORMS = {
    "review": {},
    "approve": {"decision_date": today().isoformat(), "decision_number": "5"},
    "reject": {"decision_date": today().isoformat(), "decision_number": "5", "comment": "нет подтверждения"},
    "override": {"amount": "12000", "conditions": "по тяжёлой болезни", "comment": "исключительный случай"},
    "pay": {"paid_on": today().isoformat(), "payment_reference": "п/п 77"},
}
FOREIGN = {"other_region_chair", "other_presidium"}  # another region: the petition answers 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ALLOWED))
def test_each_role_on_each_transition(aid, client, action, role):
    start, allowed = ALLOWED[action]
    p = petition_in(aid, start)
    if action == "review":
        attach_proof(p)
    login(client, aid.users[role])
    r = client.post(f"/aid/petitions/{p.id}/{action}", data={**FORMS[action], "version": str(p.version)})
    db.session.expire_all()
    p = db.session.get(AidPetition, p.id)
    if role in allowed:
        assert r.status_code == 302, _message(r)
        assert p.state.value == AID_PETITION.transitions[action].dest
        assert history(AID_PETITION, p)[-1].action == action
    else:
        if role in FOREIGN:
            assert r.status_code == 404
        else:
            assert r.status_code == 409 and "не разрешено" in r.get_data(as_text=True)
        assert p.state.value == start


def _message(r) -> str:
    import re

    found = re.search(r'<main.*?</main>', r.get_data(as_text=True), re.S)
    return re.sub(r"<[^>]+>|\s+", " ", found.group(0) if found else r.get_data(as_text=True))[:500]


ILLEGAL = [(state, action) for state in ("filed", "reviewed", "approved", "rejected", "paid")
           for action in ALLOWED if state not in AID_PETITION.transitions[action].source]
ACTOR = {"review": "regional_staff", "approve": "presidium_member", "reject": "presidium_member",
         "override": "regional_chair", "pay": "accountant"}


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_pairs_answer_409_and_change_nothing(aid, client, state, action):
    p = petition_in(aid, state)
    before = (p.state, p.version, p.amount)
    login(client, aid.users[ACTOR[action]])
    r = client.post(f"/aid/petitions/{p.id}/{action}", data=FORMS[action])
    assert r.status_code == 409
    assert "невозможно в состоянии" in r.get_data(as_text=True)
    db.session.expire_all()
    p = db.session.get(AidPetition, p.id)
    assert (p.state, p.version, p.amount) == before


@pytest.mark.parametrize("state", ["filed", "reviewed"])
def test_override_needs_a_reason_and_is_recorded(aid, client, state):
    p = petition_in(aid, state)
    login(client, aid.users["regional_chair"])
    # A missing reason or a bad amount: the page again, 422, the override form filled in as typed, the message
    # next to its field (issue 9 item 5: never a bare 409 page that loses what was typed).
    r = client.post(f"/aid/petitions/{p.id}/override", data={**FORMS["override"], "comment": "  "})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(page, "comment") == "Обязательное поле."
    assert field_value(page, "amount") == "12000" and "по тяжёлой болезни" in page
    r = client.post(f"/aid/petitions/{p.id}/override", data={**FORMS["override"], "amount": "1e20"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "сумму" in field_error(page, "amount")
    assert field_value(page, "amount") == "1e20" and "исключительный случай" in page
    r = client.post(f"/aid/petitions/{p.id}/override", data=FORMS["override"])
    assert r.status_code == 302
    db.session.expire_all()
    p = db.session.get(AidPetition, p.id)
    assert p.state == PetitionState.APPROVED and p.is_override and p.amount == Decimal("12000.00")
    assert p.override_reason == "исключительный случай" and p.override_by_id == aid.users["regional_chair"].id
    assert '"amount": "6000.00"' in p.override_before and '"state": "' + state + '"' in p.override_before
    assert "по тяжёлой болезни" in p.override_after
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert "п. 4.5" in page and "исключительный случай" in page
    # Issue 9 item 15: the override record and the history print money as every page does.
    assert "Было: 6\u00a0000,00 руб." in page and "стало: 12\u00a0000,00 руб." in page and "6000.00" not in page
    login(client, aid.users["accountant"])
    assert "председатель, п. 4.5" in client.get("/aid/payments").get_data(as_text=True)


def test_nobody_decides_their_own_petition(aid, client):
    staff = aid.users["presidium_member"]
    staff.full_name = "Семёнова Ольга Ивановна"
    db.session.commit()
    own = create_member(aid.world.school_a, last_name="Семенова", first_name="Ольга", patronymic="Ивановна")
    p = petition_in(aid, "reviewed", own)
    login(client, staff)
    r = client.post(f"/aid/petitions/{p.id}/approve", data=FORMS["approve"])
    assert r.status_code == 409 and "собственному" in r.get_data(as_text=True)
    login(client, aid.users["presidium_member2"])
    assert client.post(f"/aid/petitions/{p.id}/approve", data=FORMS["approve"]).status_code == 302


def test_decision_needs_meeting_date_and_number(aid, client):
    p = petition_in(aid, "reviewed")
    login(client, aid.users["presidium_member"])
    r = client.post(f"/aid/petitions/{p.id}/approve", data={"decision_date": today().isoformat(),
                                                            "comment": "заседание выездное"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(page, "decision_number") == "Обязательное поле."
    assert field_value(page, "decision_date") == today().isoformat() and "заседание выездное" in page
    r = client.post(f"/aid/petitions/{p.id}/approve",
                    data={"decision_date": (today() + timedelta(days=2)).isoformat(), "decision_number": "1"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "будущем" in field_error(page, "decision_date")
    assert field_value(page, "decision_number") == "1"
    r = client.post(f"/aid/petitions/{p.id}/approve", data={"decision_date": "31.02.2026", "decision_number": "1"})
    assert r.status_code == 422 and "ДД.ММ.ГГГГ" in field_error(r.get_data(as_text=True), "decision_date")
    # A refusal without its reason: the reason's field says so, the protocol typed is kept.
    r = client.post(f"/aid/petitions/{p.id}/reject", data={"decision_date": today().isoformat(),
                                                           "decision_number": "7"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "причину" in field_error(page, "comment")
    assert field_value(page, "decision_number") == "7"
    db.session.expire_all()
    assert db.session.get(AidPetition, p.id).state == PetitionState.REVIEWED


def test_review_needs_the_proof_of_treatment(aid, client):
    p = file(aid)
    login(client, aid.users["regional_staff"])
    r = client.post(f"/aid/petitions/{p.id}/review", data={})
    assert r.status_code == 409 and "отрывного талона" in r.get_data(as_text=True)


def test_stale_page_and_double_click(aid, client):
    p = petition_in(aid, "reviewed")
    version = p.version
    login(client, aid.users["presidium_member"])
    assert client.post(f"/aid/petitions/{p.id}/approve", data={**FORMS["approve"], "version": version}).status_code == 302
    again = client.post(f"/aid/petitions/{p.id}/approve", data={**FORMS["approve"], "version": version})
    assert again.status_code == 302  # the same person's repeated decision: already recorded, not an error
    login(client, aid.users["presidium_member2"])
    late = client.post(f"/aid/petitions/{p.id}/reject", data={**FORMS["reject"], "version": version})
    assert late.status_code == 409 and "Обновите страницу" in late.get_data(as_text=True)
    assert [h.action for h in history(AID_PETITION, p)].count("approve") == 1


@pytest.mark.parametrize("role", ["other_region_chair", "other_presidium"])
@pytest.mark.parametrize("path", ["", "/petition.pdf", "/petition.docx", "/card-copy.pdf", "/attachments/1"])
def test_foreign_petition_is_404_like_a_missing_one(aid, client, role, path):
    p = petition_in(aid, "filed")
    attach_proof(p)
    login(client, aid.users[role])
    foreign = client.get(f"/aid/petitions/{p.id}{path}")
    missing = client.get(f"/aid/petitions/999999{path}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()


def test_lists_show_only_the_region(aid, client):
    mine = petition_in(aid, "reviewed")
    other_member = aid.world.members["b"]
    chair_b = aid.users["other_region_chair"]
    assert mine.region_id == aid.world.region_a.id and other_member.org_id != mine.org_id
    login(client, aid.users["other_presidium"])
    assert mine.number not in client.get("/aid/queue").get_data(as_text=True)
    login(client, chair_b)
    assert mine.number not in client.get("/aid/petitions").get_data(as_text=True)
    login(client, aid.users["presidium_member"])
    assert mine.number in client.get("/aid/queue").get_data(as_text=True)


# ---- filing through the form -------------------------------------------------------------------------------------


def _form(member, **kw):
    start = today() - timedelta(days=30)
    data = {"member_id": str(member.id), "patient": "member", "sanatorium": "Санаторий «Родник»",
            "treatment_start": start.isoformat(), "treatment_end": (start + timedelta(days=13)).isoformat(),
            "voucher_source": "purchase", "payer": "member", "pays_dues": "y",
            "profcom_decision_date": today().isoformat(), "profcom_decision_number": "3",
            "account_number": account(member.id), "bik": BIK, "bank_name": "ПАО Сбербанк"}
    data.update(kw)
    return data


def test_quote_endpoint_shows_amount_and_problems(aid, client):
    m = aid.world.members["a"]
    login(client, aid.users["primary_chair"])
    q = client.post("/aid/quote", data=_form(m)).get_json()
    assert q["ready"] and q["eligible"] and q["amount"].startswith("6")
    assert q["tenure_years"] == m.tenure_years() and q["problems"] == []
    start = today() - timedelta(days=30)
    q = client.post("/aid/quote", data=_form(m, voucher_source="mvd", treatment_end=(start + timedelta(days=8))
                                             .isoformat(), bik="123")).get_json()
    assert not q["eligible"]
    assert {p["rule"] for p in q["problems"]} == {"voucher_source", "min_stay"}
    assert q["bank_problems"] == ["БИК — 9 цифр."]


def test_chair_files_only_an_eligible_petition(aid, client):
    m = aid.world.members["a"]
    login(client, aid.users["primary_chair"])
    page = client.get(f"/aid/petitions/new?member_id={m.id}")
    assert page.status_code == 200 and m.full_name in page.get_data(as_text=True)
    checked = client.post("/aid/petitions/new", data={**_form(m, payer="employer"), "do": "check"})
    assert checked.status_code == 200 and "Саратовкурорт" in checked.get_data(as_text=True)
    refused = client.post("/aid/petitions/new", data={**_form(m, payer="employer"), "do": "file"})
    assert refused.status_code == 422 and "не может быть подано" in refused.get_data(as_text=True)
    bad_account = client.post("/aid/petitions/new", data={**_form(m, account_number="40817810000000000001"),
                                                          "do": "file"})
    assert bad_account.status_code == 422 and "контрольный ключ" in bad_account.get_data(as_text=True)
    assert db.session.query(AidPetition).count() == 0
    r = client.post("/aid/petitions/new", data={**_form(m), "do": "file"})
    assert r.status_code == 302
    p = db.session.query(AidPetition).one()
    assert p.state == PetitionState.FILED and p.amount == Decimal("6000.00") and p.regulation_id == aid.regulation.id
    assert p.membership_level == ops.membership_level(m.org)
    again = client.post("/aid/petitions/new", data={**_form(m), "do": "file"})
    assert again.status_code == 422 and "уже есть ходатайство" in again.get_data(as_text=True)


@pytest.mark.parametrize("role", ["regional_staff", "presidium_member", "territorial_chair", "central_admin"])
def test_only_the_primary_chair_files(aid, client, role):
    login(client, aid.users[role])
    assert client.get("/aid/petitions/new").status_code == 404
    assert client.post("/aid/quote", data=_form(aid.world.members["a"])).status_code == 404


def test_chair_cannot_file_for_a_member_of_another_primary(aid, client):
    login(client, aid.users["primary_chair"])
    r = client.post("/aid/petitions/new", data={**_form(aid.world.members["a2"]), "do": "file"})
    assert r.status_code == 422 and db.session.query(AidPetition).count() == 0


# ---- attachments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "name", "ok"), [
    (PDF, "talon.pdf", True), (PNG, "scan.png", True), (b"\xff\xd8\xff\xe0" + b"0" * 40, "photo.jpg", True),
    (b"<html><script>alert(1)</script></html>", "talon.pdf", False), (b"GIF89a....", "a.png", False),
    (b"", "empty.pdf", False),
])
def test_attachment_type_by_content(aid, client, content, name, ok):
    p = file(aid)
    login(client, aid.users["primary_chair"])
    r = client.post(f"/aid/petitions/{p.id}/attachments",
                    data={"kind": "proof", "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
    db.session.expire_all()
    p = db.session.get(AidPetition, p.id)
    if ok:
        assert r.status_code == 302 and len(p.attachments) == 1
        att = p.attachments[0]
        assert att.stored_name != name and att.size == len(content)
        d = client.get(f"/aid/petitions/{p.id}/attachments/{att.id}")
        assert d.status_code == 200 and d.data == content
        assert d.headers["X-Content-Type-Options"] == "nosniff"
        assert d.headers["Content-Disposition"].startswith("attachment")
    else:
        # The page again (422) with the reason next to the file field, not a bare 400 page.
        assert r.status_code == 422 and p.attachments == []
        assert any(w in field_error(r.get_data(as_text=True), "file") for w in ("PDF", "пустой", "Выберите"))


def test_attachment_size_limit(aid, client, monkeypatch):
    monkeypatch.setattr(ops, "MAX_ATTACHMENT_BYTES", 1024)
    p = file(aid)
    login(client, aid.users["primary_chair"])
    r = client.post(f"/aid/petitions/{p.id}/attachments",
                    data={"kind": "proof", "file": (io.BytesIO(PDF + b"0" * 2000), "big.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "больше" in field_error(r.get_data(as_text=True), "file")
    assert db.session.get(AidPetition, p.id).attachments == []


def test_attachment_of_another_petition_is_404(aid, client):
    p1, p2 = file(aid), file(aid)
    attach_proof(p1)
    login(client, aid.users["primary_chair"])
    att = p1.attachments[0]
    assert client.get(f"/aid/petitions/{p2.id}/attachments/{att.id}").status_code == 404


# ---- queue, payments, register -----------------------------------------------------------------------------------


def test_presidium_decides_many_at_once(aid, client):
    ps = [petition_in(aid, "reviewed") for _ in range(3)]
    login(client, aid.users["presidium_member"])
    page = client.get("/aid/queue").get_data(as_text=True)
    assert all(p.number in page for p in ps) and "6\u00a0000,00" in page
    data = {"decision_date": today().isoformat(), "decision_number": "14", "do": "approve",
            "petition_ids": [str(p.id) for p in ps[:2]], **{f"version_{p.id}": str(p.version) for p in ps}}
    r = client.post("/aid/queue", data=data)
    assert r.status_code == 302
    db.session.expire_all()
    states = [db.session.get(AidPetition, p.id) for p in ps]
    assert [s.state for s in states] == [PetitionState.APPROVED, PetitionState.APPROVED, PetitionState.REVIEWED]
    assert all(s.decision_number == "14" and s.decision_date == today() for s in states[:2])
    again = client.post("/aid/queue", data=data)  # both already decided: nothing recorded
    assert again.status_code == 409


def test_accountant_exports_register_and_marks_paid(aid, client):
    approved = [petition_in(aid, "approved") for _ in range(2)]
    login(client, aid.users["regional_chair"])
    override = petition_in(aid, "reviewed")
    client.post(f"/aid/petitions/{override.id}/override", data=FORMS["override"])
    login(client, aid.users["accountant"])
    r = client.get("/aid/payments/register.xlsx")
    assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"
    ws = load_workbook(io.BytesIO(r.data)).active
    text = "\n".join(" ".join(str(c) for c in row if c is not None) for row in ws.iter_rows(values_only=True))
    for p in approved + [override]:
        assert p.number in text and p.account_number in text
    assert "12000" in text.replace(" ", "").replace("\u00a0", "")
    r = client.post("/aid/payments", data={"paid_on": today().isoformat(), "payment_reference": "п/п 900",
                                           "petition_ids": [str(p.id) for p in approved]})
    assert r.status_code == 302
    db.session.expire_all()
    assert all(db.session.get(AidPetition, p.id).state == PetitionState.PAID for p in approved)
    assert db.session.get(AidPetition, approved[0].id).payment_reference == "п/п 900"
    r = client.post("/aid/payments", data={"paid_on": today().isoformat(), "payment_reference": "",
                                           "petition_ids": [str(override.id)]})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(page, "payment_reference") == "Обязательное поле."
    assert f'value="{override.id}" checked' in page  # the ticks are kept too


@pytest.mark.parametrize("role", ["primary_chair", "regional_staff", "presidium_member"])
def test_register_and_payments_only_for_the_accountant(aid, client, role):
    login(client, aid.users[role])
    assert client.get("/aid/payments/register.xlsx").status_code == 404
    assert client.get("/aid/payments").status_code == 404


def test_petition_documents(aid, client):
    p = petition_in(aid, "reviewed")
    login(client, aid.users["presidium_member"])
    pdf = client.get(f"/aid/petitions/{p.id}/petition.pdf")
    docx = client.get(f"/aid/petitions/{p.id}/petition.docx")
    card = client.get(f"/aid/petitions/{p.id}/card-copy.pdf")
    assert pdf.data.startswith(b"%PDF") and docx.data.startswith(b"PK") and card.data.startswith(b"%PDF")
    from docx import Document

    body = "\n".join(par.text for par in Document(io.BytesIO(docx.data)).paragraphs)
    assert p.member.full_name in body and "Санаторий «Светлана»" in body
    # Addressed in the dative, as the regulation's addressee block stands (seed 004), not the region's nominative name.
    assert "Председателю\nСаратовской областной\nорганизации Профсоюза\nработников\nздравоохранения РФ\nПрохорову С.А." in body
    assert aid.world.region_a.name not in body


# ---- the regulation ----------------------------------------------------------------------------------------------


def test_regulation_page_and_new_version(aid, client):
    p = petition_in(aid, "filed")
    login(client, aid.users["primary_chair"])
    page = client.get("/aid/regulation").get_data(as_text=True)
    assert "15\u00a0000,00" in page and "14\u00a0400,00" in page and "41–50" in page
    assert "до 80 % включительно" in page and "более 80 % и менее 100 %" in page and "E+" not in page
    assert client.get("/aid/regulation/edit").status_code == 404
    login(client, aid.users["regional_staff"])
    form = client.get("/aid/regulation/edit")
    assert form.status_code == 200
    data = {"title": "Положение 2027", "valid_from": today().isoformat(), "level_base_max": "80", "level_full": "100",
            "min_tenure_years": "1", "min_stay_days": "7", "repeat_interval_days": "730",
            "excluded": ["mod", "fsb"], "payers": ["member"],
            "addressee": " Председателю \r\nОбластной организации\r\n\r\nИванову И.И."}
    assert "Прохорову С.А." in form.get_data(as_text=True)  # the current version's addressee, to edit
    rows = [(1, 10, "4000", "5000", "6000"), (11, None, "8000", "9000", "10000")]
    for i, (lo, hi, a, b, c) in enumerate(rows):
        data.update({f"bands-{i}-min_years": str(lo), f"bands-{i}-max_years": "" if hi is None else str(hi),
                     f"bands-{i}-base": a, f"bands-{i}-above": b, f"bands-{i}-full": c})
    bad = client.post("/aid/regulation/edit", data={**data, "bands-0-base": "NaN"})
    assert bad.status_code == 422
    r = client.post("/aid/regulation/edit", data=data)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    versions = db.session.query(AidRegulation).filter_by(org_id=aid.world.region_a.id).order_by(
        AidRegulation.version).all()
    assert [v.version for v in versions] == [1, 2]
    old = versions[0].to_rules()
    assert old.min_stay_days == 10 and len(old.bands) == 8  # the version the petition used is untouched
    assert old.addressee.endswith("Прохорову С.А.") and versions[1].addressee == "Председателю\nОбластной организации\nИванову И.И."
    assert ops.current_regulation(aid.world.region_a).version == 2
    db.session.expire_all()
    assert db.session.get(AidPetition, p.id).regulation.version == 1
    new = client.get("/aid/regulation").get_data(as_text=True)
    assert "Положение 2027" in new and "10\u00a0000,00" in new and "Председателю Областной организации Иванову И.И." in new


def test_other_region_regulation_is_404(aid, client):
    login(client, aid.users["other_region_chair"])
    assert client.get(f"/aid/regulations/{aid.regulation.id}").status_code == 404


def test_unknown_state_filter_is_400(aid, client):
    login(client, aid.users["regional_staff"])
    assert client.get("/aid/petitions?state=bogus").status_code == 400


def test_overdue_filter(aid, client):
    late = petition_in(aid, "filed")
    fresh = petition_in(aid, "filed")
    paid_late = petition_in(aid, "approved")
    late.filed_on = today() - timedelta(days=20)
    paid_late.decision_date = today() - timedelta(days=15)
    paid_late.filed_on = today() - timedelta(days=30)
    db.session.commit()
    login(client, aid.users["regional_staff"])
    page = client.get("/aid/petitions?overdue=1").get_data(as_text=True)
    assert late.number in page and paid_late.number in page and fresh.number not in page
    assert "просрочено" in page


def test_petition_page_offers_each_role_its_buttons(aid, client):
    p = petition_in(aid, "reviewed")
    expected = {"presidium_member": {"approve", "reject"}, "regional_chair": {"override"}, "regional_staff": set(),
                "accountant": set(), "primary_chair": set()}
    for role, actions in expected.items():
        login(client, aid.users[role])
        page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
        shown = {a for a in ALLOWED if f'data-testid="aid-action-{a}"' in page}
        assert shown == actions, role
    login(client, aid.users["presidium_member"])
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert page.count('id="decision_date"') == 1


def test_a_bad_decision_form_names_the_field_and_its_error(aid, client):
    """A bad form comes back (422) with WTForms' (lazy) messages next to the field, the rest as typed."""
    p = petition_in(aid, "reviewed")
    login(client, aid.users["presidium_member"])
    r = client.post(f"/aid/petitions/{p.id}/approve",
                    data={"decision_date": "31.02.2026", "decision_number": "5", "version": str(p.version)})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "ДД.ММ.ГГГГ" in field_error(page, "decision_date"), page[-3000:]
    assert field_value(page, "decision_number") == "5" and field_value(page, "version") == str(p.version)
    db.session.expire_all()
    assert db.session.get(AidPetition, p.id).state == PetitionState.REVIEWED


# ---- the member card -------------------------------------------------------------------------------------------


def test_member_card_offers_the_petition_to_whoever_may_file(aid, client):
    """The chair of the member's primary gets the button (to the form with the member chosen); nobody else does."""
    member = create_member(aid.world.school_a)
    link = f'/aid/petitions/new?member_id={member.id}'
    login(client, aid.users["primary_chair"])
    card = client.get(f"/members/{member.id}").get_data(as_text=True)
    assert link in card and "Ходатайство о материальной помощи" in card
    form = client.get(link).get_data(as_text=True)
    assert f'<option selected value="{member.id}">' in form
    for role in ("territorial_chair", "regional_staff", "regional_chair", "central_admin"):
        login(client, aid.users[role])
        r = client.get(f"/members/{member.id}")
        assert r.status_code == 200 and link not in r.get_data(as_text=True), role
    # A member who left the union is not on the form's list: no button on the card either.
    from portal.registry import operations as registry_ops
    from portal.registry.models import EventKind

    gone = create_member(aid.world.school_a)
    registry_ops.end_membership(None, gone, EventKind.LEFT, today())
    db.session.commit()
    login(client, aid.users["primary_chair"])
    assert f"/aid/petitions/new?member_id={gone.id}" not in client.get(f"/members/{gone.id}").get_data(as_text=True)


def test_member_card_lists_the_members_petitions_to_who_may_see_them(aid, client):
    member = create_member(aid.world.school_a)
    paid = petition_in(aid, "paid", member)
    login(client, aid.users["primary_chair"])
    card = client.get(f"/members/{member.id}").get_data(as_text=True)
    row = f'<a href="/aid/petitions/{paid.id}">{paid.number}</a>'
    assert row in card and "выплачено" in card
    # The member's one petition is paid, so the chair may file again; another member's card shows none.
    assert f"/aid/petitions/new?member_id={member.id}" in card
    other = create_member(aid.world.school_a)
    assert 'data-testid="aid-petitions"' not in client.get(f"/members/{other.id}").get_data(as_text=True)
    login(client, aid.users["regional_staff"])
    assert row in client.get(f"/members/{member.id}").get_data(as_text=True)
    login(client, aid.users["other_region_chair"])
    assert client.get(f"/members/{member.id}").status_code == 404


def test_regional_staff_are_told_why_no_action_is_offered(aid, client):
    """Issue 9 item 20: a filed petition without the voucher stub offers no review, and the page says why (the
    workflow guard's reason), not an empty action bar; once the stub is attached the button is there."""
    p = file(aid)
    login(client, aid.users["regional_staff"])
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert 'data-testid="aid-action-review"' not in page
    withheld = page.split('data-testid="withheld"', 1)[1].split("</div>\n</div>", 1)[0]
    assert "«Документы проверены» пока нельзя" in withheld and "отрывного талона" in withheld
    attach_proof(p)
    page = client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
    assert 'data-testid="aid-action-review"' in page and "пока нельзя" not in page
    login(client, aid.users["accountant"])  # nothing of theirs in this state: said plainly
    assert "ничего не требуется" in client.get(f"/aid/petitions/{p.id}").get_data(as_text=True)
